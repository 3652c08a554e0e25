// A pipeline stage: a range of the MLP's layers, run with the whole Mlp's own layer code
// (mlp_parts.hpp), so that composing the stages gives the unsplit model's bits.
#include "dtlab/stage.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <utility>

#include "dtlab/error.hpp"
#include "dtlab/layers.hpp"
#include "dtlab/oplog.hpp"
#include "mlp_parts.hpp"

namespace dtlab {

MlpStage::MlpStage(MlpConfig config, int first, int last)
    : config_(std::move(config)), first_(first), last_(last) {
  const std::vector<LayerSlice> all = detail::mlp_layers(config_);
  model_layers_ = int(all.size());
  if (first < 0 || first >= last || last > model_layers_)
    throw Error(
        fmt::format("MLP {}: a stage holds layers [first, last) with 0 <= first < last <= {}, "
                    "got [{}, {})",
                    config_.describe(), model_layers_, first, last));
  // The same layout as the whole model's, moved to start at 0.
  const std::size_t base = all[first].weight;
  for (int l = first; l < last; ++l) {
    LayerSlice s = all[l];
    s.weight -= base;
    s.bias -= base;
    layers_.push_back(s);
  }
  lead_ = base % (64 / sizeof(float));  // AlignedVector starts on 64 bytes
  params_.assign(lead_ + layers_.back().end(), 0.0f);
  grads_.assign(lead_ + layers_.back().end(), 0.0f);
}

std::string MlpStage::name() const {
  return fmt::format("stage [{}, {}) of MLP {}", first_, last_, config_.describe());
}

void MlpStage::init(std::uint64_t seed) {
  Rng rng = detail::init_rng(seed, detail::mlp_layers(config_), std::size_t(first_));
  for (const auto& s : layers_) detail::init_layer(rng, s, params().data());
}

std::span<const float> MlpStage::forward(int micro, std::span<const float> x) {
  const std::size_t in = std::size_t(inputs());
  if (x.empty() || x.size() % in != 0)
    throw Error(fmt::format("{}: micro-batch {} needs batch x {} inputs, batch >= 1; got {} values",
                            name(), micro, in, x.size()));
  if (in_flight_.contains(micro))
    throw Error(
        fmt::format("{}: micro-batch {} is already in flight; run its backward (or release it) "
                    "before forwarding it again",
                    name(), micro));
  Activations a;
  if (!spare_.empty()) {
    a = std::move(spare_.back());
    spare_.pop_back();
  }
  a.batch = int(x.size() / in);
  a.input.assign(x.begin(), x.end());  // the sender may reuse its buffer before our backward
  a.outputs.resize(layers_.size());
  double flops = 0;
  for (const auto& s : layers_) flops += 2.0 * s.in * s.out * a.batch;
  // Labelled with the micro-batch and the layers, so that the op log (and the timeline drawn from
  // it) shows which forward ran when: Lab 03's tests check a schedule's order from it.
  ComputeScope scope(fmt::format("forward {}, layers [{}, {})", micro, first_, last_), flops);
  const float* cur = a.input.data();
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    a.outputs[i].resize(std::size_t(a.batch) * layers_[i].out);
    const bool relu = first_ + int(i) + 1 < model_layers_;  // every layer but the model's last
    detail::layer_forward(layers_[i], params().data(), cur, a.outputs[i].data(), a.batch, relu);
    cur = a.outputs[i].data();
  }
  return in_flight_.emplace(micro, std::move(a)).first->second.outputs.back();
}

MlpStage::Activations& MlpStage::find(int micro, const char* what) {
  const auto it = in_flight_.find(micro);
  if (it == in_flight_.end()) {
    std::vector<int> ids;
    for (const auto& [id, a] : in_flight_) ids.push_back(id);
    throw Error(fmt::format("{}: {} of micro-batch {}, which is not in flight (in flight: [{}])",
                            name(), what, micro, fmt::join(ids, ", ")));
  }
  return it->second;
}

MlpStage::Loss MlpStage::loss(int micro, std::span<const std::int32_t> labels, float scale) {
  if (!has_loss())
    throw Error(fmt::format("{}: only the stage with the model's last layer ({}) has the loss",
                            name(), model_layers_ - 1));
  Activations& a = find(micro, "loss");
  if (labels.size() != std::size_t(a.batch))
    throw Error(fmt::format("{}: micro-batch {} has {} samples but {} labels", name(), micro,
                            a.batch, labels.size()));
  for (const auto y : labels)
    if (y < 0 || y >= config_.classes)
      throw Error(fmt::format("{}: label {} is outside 0..{}", name(), y, config_.classes - 1));
  ComputeScope scope(fmt::format("loss {}", micro));
  a.dlogits.resize(std::size_t(a.batch) * config_.classes);
  MatMap d(a.dlogits.data(), a.batch, config_.classes);
  const float value = ops_.softmax_cross_entropy(
      ConstMatMap(a.outputs.back().data(), a.batch, config_.classes), labels, d);
  d *= scale;
  return {value, a.dlogits};
}

std::span<const float> MlpStage::backward(int micro, std::span<const float> dy) {
  Activations& a = find(micro, "backward");
  if (dy.size() != std::size_t(a.batch) * outputs())
    throw Error(
        fmt::format("{}: backward of micro-batch {} needs dL/d(output) of {} x {} values, got {}",
                    name(), micro, a.batch, outputs(), dy.size()));
  const std::size_t room = std::size_t(a.batch) * widest(layers_);
  if (delta_a_.size() < room) {
    delta_a_.resize(room);
    delta_b_.resize(room);
  }
  // delta holds dL/d(output of layer i); after layer i, dL/d(its input). dy may be our own dlogits,
  // which release() below recycles: it is copied first.
  float* delta = delta_a_.data();
  float* spare = delta_b_.data();
  double flops = 0;
  for (std::size_t i = 0; i < layers_.size(); ++i)
    flops += detail::backward_flops(layers_[i], a.batch, first_ + int(i) > 0);
  ComputeScope scope(fmt::format("backward {}, layers [{}, {})", micro, first_, last_), flops);
  std::copy(dy.begin(), dy.end(), delta);
  for (std::size_t i = layers_.size(); i-- > 0;) {
    const int l = first_ + int(i);
    const float* x = i == 0 ? a.input.data() : a.outputs[i - 1].data();
    detail::layer_backward(ops_, layers_[i], params().data(), grads().data(), x, a.outputs[i].data(),
                           delta, l > 0 ? spare : nullptr, a.batch, l + 1 < model_layers_,
                           !overwrite_, saved_, /*mark=*/false);
    std::swap(delta, spare);
  }
  overwrite_ = false;
  const std::size_t dx = std::size_t(a.batch) * inputs();
  release(micro);
  if (first_ == 0) return {};  // the data needs no gradient
  return {delta, dx};
}

void MlpStage::release(int micro) {
  spare_.push_back(std::move(find(micro, "release")));
  in_flight_.erase(micro);
}

void MlpStage::zero_grads() {
  std::fill(grads_.begin(), grads_.end(), 0.0f);  // the lead included: it stays 0
  overwrite_ = true;
}

}  // namespace dtlab
