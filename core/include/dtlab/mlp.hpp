// A multi-layer perceptron (Linear, ReLU, ..., Linear, softmax cross-entropy) whose parameters and
// gradients live in two flat float buffers. Later labs bucket, shard and compress those buffers as
// spans, the way PyTorch DDP flattens gradients into buckets.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "dtlab/aligned.hpp"
#include "dtlab/layers.hpp"

namespace dtlab {

struct MlpConfig {
  int inputs = 784;
  std::vector<int> hidden = {512, 256};
  int classes = 10;

  std::string describe() const;  // "784-512-256-10"
};

// Where one Linear layer's tensors sit in the flat buffers.
struct LayerSlice {
  int in = 0;
  int out = 0;
  std::size_t weight = 0;  // offset of the out x in weight (row-major, PyTorch's layout)
  std::size_t bias = 0;    // offset of the out biases
  std::size_t begin() const { return weight; }
  std::size_t end() const { return bias + std::size_t(out); }
};

// The largest width (in or out) of any layer: the size of a row of the MLP's gradient workspace.
int widest(const std::vector<LayerSlice>& layers);

// The backward passes the MLP calls: layers.hpp's unless a program swaps in its own (Lab 00 has
// students write them and trains with theirs).
struct LayerOps {
  decltype(&dtlab::linear_backward) linear_backward = &dtlab::linear_backward;
  decltype(&dtlab::relu_backward) relu_backward = &dtlab::relu_backward;
  decltype(&dtlab::softmax_cross_entropy) softmax_cross_entropy = &dtlab::softmax_cross_entropy;
};

class Mlp {
 public:
  explicit Mlp(MlpConfig config);

  const MlpConfig& config() const { return config_; }
  std::size_t num_params() const { return params_.size(); }
  std::span<float> params() { return params_; }
  std::span<const float> params() const { return params_; }
  std::span<float> grads() { return grads_; }
  std::span<const float> grads() const { return grads_; }
  const std::vector<LayerSlice>& layers() const { return layers_; }

  // He-uniform weights (U(-sqrt(6/in), sqrt(6/in)), for ReLU nets) and zero biases.
  void init(std::uint64_t seed);

  // Called during backward as soon as layer l's gradients are final: last layer first.
  using GradReady = std::function<void(int layer)>;

  void set_layer_ops(const LayerOps& ops) { ops_ = ops; }

  // Forward and backward on one batch (x: batch x inputs row-major). Returns the mean loss and
  // overwrites grads() with its gradient, or with accumulate adds it to grads() (as PyTorch's
  // .grad does), for gradient accumulation over micro-batches.
  float forward_backward(std::span<const float> x, std::span<const std::int32_t> labels,
                         const GradReady& grad_ready = {}, bool accumulate = false);

  struct Eval {
    double loss_sum = 0;      // summed (not averaged) over the samples
    std::int64_t correct = 0;
  };
  Eval evaluate(std::span<const float> x, std::span<const std::int32_t> labels);

  // Floating-point operations per sample: forward only, and forward plus backward.
  double forward_flops() const;
  double train_flops() const;

 private:
  int batch_of(std::span<const float> x, std::span<const std::int32_t> labels) const;
  void forward(std::span<const float> x, int batch);
  void reserve(int batch);

  MlpConfig config_;
  LayerOps ops_;
  std::vector<LayerSlice> layers_;
  AlignedVector<float> params_;
  AlignedVector<float> grads_;
  // Workspace, grown to the largest batch seen: each layer's output, and two gradient buffers.
  int capacity_ = 0;
  std::vector<AlignedVector<float>> acts_;
  AlignedVector<float> delta_a_, delta_b_;
  AlignedVector<float> saved_;  // accumulate: a layer's gradient before its backward overwrites it
};

}  // namespace dtlab
