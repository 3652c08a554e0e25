// What the whole MLP (mlp.hpp) and the parts of a split one (stage.hpp, tensor_parallel.hpp) share:
// the layer geometry, the order of the initial random draws and one layer's forward and backward.
// A split model that runs this code, on the same values and the same aligned buffers, gets the
// unsplit model's bits, which is what lets the Lab 03 tests compare them bitwise.
#pragma once

#include <cstdint>
#include <vector>

#include "dtlab/aligned.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/rng.hpp"

namespace dtlab::detail {

// config's Linear layers packed one after the other into one flat buffer. Throws dtlab::Error for
// a config without inputs, with fewer than two classes or with an empty hidden layer.
std::vector<LayerSlice> mlp_layers(const MlpConfig& config);

// Mlp::init draws every weight from one Rng(seed), layer after layer, row-major within a layer:
// this is that Rng with the draws of layers [0, layer) already made.
Rng init_rng(std::uint64_t seed, const std::vector<LayerSlice>& layers, std::size_t layer);

// Layer s of params as Mlp::init leaves it: He-uniform weights (U(-sqrt(6/in), sqrt(6/in)), for
// ReLU nets) drawn from rng, zero biases.
void init_layer(Rng& rng, const LayerSlice& s, float* params);

// y = x w^T + b (w, b: layer s of params), then the ReLU if relu.
void layer_forward(const LayerSlice& s, const float* params, const float* x, float* y, int batch,
                   bool relu);

// Given dy = dL/d(layer output), which it changes: masks dy through the ReLU if relu (y is the
// layer's output), writes layer s's gradients into grads, or adds them with accumulate (saved is
// the workspace for that), and computes dx = dL/d(input) unless dx is null. x is the layer's input.
// Marks itself as "backward" compute in the op log unless the caller marks a larger span.
void layer_backward(const LayerOps& ops, const LayerSlice& s, const float* params, float* grads,
                    const float* x, const float* y, float* dy, float* dx, int batch, bool relu,
                    bool accumulate, AlignedVector<float>& saved, bool mark = true);

// The flops layer_backward marks.
inline double backward_flops(const LayerSlice& s, int batch, bool dx) {
  return 2.0 * s.in * s.out * batch * (dx ? 2 : 1);
}

}  // namespace dtlab::detail
