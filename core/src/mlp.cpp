#include "dtlab/mlp.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "dtlab/error.hpp"
#include "dtlab/layers.hpp"
#include "dtlab/oplog.hpp"
#include "dtlab/rng.hpp"
#include "mlp_parts.hpp"

namespace dtlab {

std::string MlpConfig::describe() const {
  return fmt::format("{}-{}{}{}", inputs, fmt::join(hidden, "-"), hidden.empty() ? "" : "-",
                     classes);
}

namespace detail {

std::vector<LayerSlice> mlp_layers(const MlpConfig& config) {
  if (config.inputs <= 0 || config.classes <= 1)
    throw Error(fmt::format("MLP {}: needs at least one input and two classes", config.describe()));
  std::vector<int> widths{config.inputs};
  for (int h : config.hidden) {
    if (h <= 0) throw Error(fmt::format("MLP {}: hidden widths must be > 0", config.describe()));
    widths.push_back(h);
  }
  widths.push_back(config.classes);
  std::vector<LayerSlice> layers;
  std::size_t offset = 0;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    LayerSlice s{widths[l], widths[l + 1], offset, offset + std::size_t(widths[l]) * widths[l + 1]};
    offset = s.end();
    layers.push_back(s);
  }
  return layers;
}

Rng init_rng(std::uint64_t seed, const std::vector<LayerSlice>& layers, std::size_t layer) {
  Rng rng(seed);
  for (std::size_t l = 0; l < layer; ++l)  // one draw per weight
    for (std::size_t i = layers[l].weight; i < layers[l].bias; ++i) rng.uniform();
  return rng;
}

void init_layer(Rng& rng, const LayerSlice& s, float* params) {
  const double bound = std::sqrt(6.0 / s.in);
  for (std::size_t i = s.weight; i < s.bias; ++i) params[i] = float(rng.uniform(-bound, bound));
  std::fill(params + s.bias, params + s.end(), 0.0f);
}

void layer_forward(const LayerSlice& s, const float* params, const float* x, float* y, int batch,
                   bool relu) {
  MatMap ym(y, batch, s.out);
  linear_forward(ConstMatMap(x, batch, s.in), ConstMatMap(params + s.weight, s.out, s.in),
                 ConstVecMap(params + s.bias, s.out), ym);
  if (relu) relu_forward(ym);
}

void layer_backward(const LayerOps& ops, const LayerSlice& s, const float* params, float* grads,
                    const float* x, const float* y, float* dy, float* dx, int batch, bool relu,
                    bool accumulate, AlignedVector<float>& saved, bool mark) {
  std::optional<ComputeScope> scope;
  if (mark) scope.emplace("backward", backward_flops(s, batch, dx != nullptr));
  if (relu) ops.relu_backward(ConstMatMap(y, batch, s.out), MatMap(dy, batch, s.out));
  const std::span<float> g(grads + s.begin(), s.end() - s.begin());
  // linear_backward overwrites: keep what is there to add it back.
  if (accumulate) saved.assign(g.begin(), g.end());
  MatMap dxm(dx, batch, s.in);
  ops.linear_backward(ConstMatMap(x, batch, s.in), ConstMatMap(params + s.weight, s.out, s.in),
                      ConstMatMap(dy, batch, s.out), MatMap(grads + s.weight, s.out, s.in),
                      VecMap(grads + s.bias, s.out), dx ? &dxm : nullptr);
  if (accumulate)
    for (std::size_t i = 0; i < g.size(); ++i) g[i] += saved[i];
}

}  // namespace detail

Mlp::Mlp(MlpConfig config) : config_(std::move(config)), layers_(detail::mlp_layers(config_)) {
  params_.assign(layers_.back().end(), 0.0f);
  grads_.assign(layers_.back().end(), 0.0f);
  acts_.resize(layers_.size());
}

void Mlp::init(std::uint64_t seed) {
  Rng rng(seed);
  for (const auto& l : layers_) detail::init_layer(rng, l, params_.data());
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
    const bool relu = l + 1 < layers_.size();  // every layer but the last
    detail::layer_forward(layers_[l], params_.data(), in, acts_[l].data(), batch, relu);
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
    const float* in = l == 0 ? x.data() : acts_[l - 1].data();
    detail::layer_backward(ops_, layers_[l], params_.data(), grads_.data(), in, acts_[l].data(),
                           delta, l > 0 ? spare : nullptr, batch, l + 1 < L, accumulate, saved_);
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

