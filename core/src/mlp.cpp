#include "dtlab/mlp.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "dtlab/error.hpp"
#include "dtlab/layers.hpp"
#include "dtlab/oplog.hpp"
#include "dtlab/rng.hpp"

namespace dtlab {

std::string MlpConfig::describe() const {
  return fmt::format("{}-{}{}{}", inputs, fmt::join(hidden, "-"), hidden.empty() ? "" : "-",
                     classes);
}

Mlp::Mlp(MlpConfig config) : config_(std::move(config)) {
  if (config_.inputs <= 0 || config_.classes <= 1)
    throw Error(fmt::format("MLP {}: needs at least one input and two classes", config_.describe()));
  std::vector<int> widths{config_.inputs};
  for (int h : config_.hidden) {
    if (h <= 0) throw Error(fmt::format("MLP {}: hidden widths must be > 0", config_.describe()));
    widths.push_back(h);
  }
  widths.push_back(config_.classes);
  std::size_t offset = 0;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    LayerSlice s{widths[l], widths[l + 1], offset, offset + std::size_t(widths[l]) * widths[l + 1]};
    offset = s.end();
    layers_.push_back(s);
  }
  params_.assign(offset, 0.0f);
  grads_.assign(offset, 0.0f);
  acts_.resize(layers_.size());
}

void Mlp::init(std::uint64_t seed) {
  Rng rng(seed);
  for (const auto& l : layers_) {
    const double bound = std::sqrt(6.0 / l.in);
    for (std::size_t i = l.weight; i < l.bias; ++i) params_[i] = float(rng.uniform(-bound, bound));
    std::fill(params_.begin() + l.bias, params_.begin() + l.end(), 0.0f);
  }
}

int widest(const std::vector<LayerSlice>& layers) {
  int w = 0;
  for (const auto& l : layers) w = std::max({w, l.in, l.out});
  return w;
}

void Mlp::reserve(int batch) {
  if (batch <= capacity_) return;
  for (std::size_t l = 0; l < layers_.size(); ++l) acts_[l].resize(std::size_t(batch) * layers_[l].out);
  delta_a_.resize(std::size_t(batch) * widest(layers_));
  delta_b_.resize(std::size_t(batch) * widest(layers_));
  capacity_ = batch;
}

int Mlp::batch_of(std::span<const float> x, std::span<const std::int32_t> labels) const {
  const std::size_t in = std::size_t(config_.inputs);
  if (x.size() % in != 0 || x.size() / in != labels.size())
    throw Error(fmt::format("MLP: a batch of {} labels needs {} inputs, got {}", labels.size(),
                            labels.size() * in, x.size()));
  for (const auto y : labels)
    if (y < 0 || y >= config_.classes)
      throw Error(fmt::format("MLP: label {} is outside 0..{}", y, config_.classes - 1));
  return int(labels.size());
}

void Mlp::forward(std::span<const float> x, int batch) {
  reserve(batch);
  const float* in = x.data();
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const auto& s = layers_[l];
    MatMap y(acts_[l].data(), batch, s.out);
    linear_forward(ConstMatMap(in, batch, s.in), ConstMatMap(&params_[s.weight], s.out, s.in),
                   ConstVecMap(&params_[s.bias], s.out), y);
    if (l + 1 < layers_.size()) relu_forward(y);
    in = acts_[l].data();
  }
}

float Mlp::forward_backward(std::span<const float> x, std::span<const std::int32_t> labels,
                            const GradReady& grad_ready, bool accumulate) {
  const int batch = batch_of(x, labels);
  const std::size_t L = layers_.size();
  float loss = 0;
  {
    ComputeScope scope("forward", forward_flops() * batch);
    forward(x, batch);
    MatMap dlogits(delta_a_.data(), batch, config_.classes);
    loss = ops_.softmax_cross_entropy(ConstMatMap(acts_[L - 1].data(), batch, config_.classes), labels,
                                 dlogits);
  }
  // delta holds dL/d(output of layer l); after layer l it holds dL/d(input of layer l).
  float* delta = delta_a_.data();
  float* spare = delta_b_.data();
  for (std::size_t l = L; l-- > 0;) {
    const auto& s = layers_[l];
    {
      ComputeScope scope("backward", 2.0 * s.in * s.out * batch * (l > 0 ? 2 : 1));
      const float* in = l == 0 ? x.data() : acts_[l - 1].data();
      const std::span<float> g(&grads_[s.begin()], s.end() - s.begin());
      if (accumulate) saved_.assign(g.begin(), g.end());
      MatMap dx(spare, batch, s.in);
      ops_.linear_backward(ConstMatMap(in, batch, s.in), ConstMatMap(&params_[s.weight], s.out, s.in),
                           ConstMatMap(delta, batch, s.out), MatMap(&grads_[s.weight], s.out, s.in),
                           VecMap(&grads_[s.bias], s.out), l > 0 ? &dx : nullptr);
      if (l > 0) ops_.relu_backward(ConstMatMap(acts_[l - 1].data(), batch, s.in), dx);
      if (accumulate)
        for (std::size_t i = 0; i < g.size(); ++i) g[i] += saved_[i];
    }
    std::swap(delta, spare);
    if (grad_ready) grad_ready(int(l));
  }
  return loss;
}

Mlp::Eval Mlp::evaluate(std::span<const float> x, std::span<const std::int32_t> labels) {
  const int batch = batch_of(x, labels);
  forward(x, batch);
  const ConstMatMap logits(acts_.back().data(), batch, config_.classes);
  return {double(softmax_cross_entropy_loss(logits, labels)) * batch, count_correct(logits, labels)};
}

double Mlp::forward_flops() const {
  double f = 0;
  for (const auto& s : layers_) f += 2.0 * s.in * s.out;
  return f;
}

double Mlp::train_flops() const {
  // Backward: dW for every layer, dX for every layer but the first: about twice the forward.
  double f = 3 * forward_flops();
  f -= 2.0 * layers_.front().in * layers_.front().out;
  return f;
}

}  // namespace dtlab

