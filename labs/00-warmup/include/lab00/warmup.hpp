// Lab 00: warm-up. The API you implement, in labs/00-warmup/starter/warmup.cpp.
//
// Part 1 is the backward pass of dtlab's MLP: the three layers' gradients, which the MLP calls
// instead of the core's own when you train with layer_ops(). Part 2 measures this machine's
// alpha (seconds per message) and beta (seconds per byte) with a ping-pong over Comm and a line
// fitted through the timings. MPI itself and the library collectives (dtlab/baseline.hpp) are off
// limits and do not compile here.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dtlab/comm.hpp"
#include "dtlab/layers.hpp"  // MatMap, ConstMatMap, VecMap: row-major float matrices, one sample per row
#include "dtlab/mlp.hpp"     // LayerOps

namespace lab00 {

using dtlab::Comm;
using dtlab::ConstMatMap;
using dtlab::MatMap;
using dtlab::VecMap;

// ---- Part 1: backward passes ----
//
// The forward passes are the core's (dtlab/layers.hpp). L is the loss; "dv" names dL/dv, a matrix
// of v's shape. Every output argument is overwritten, never added to.

// Linear layer y = x w^T + b, with x: batch x in, w: out x in (PyTorch's layout), b: out,
// y: batch x out. Given x, w and dy (batch x out), writes
//   dw = dy^T x               (out x in)
//   db = dy summed over rows  (out): b is added to every sample's output
//   dx = dy w                 (batch x in), only when dx is not null (the first layer's input
//                             needs no gradient, so the MLP passes null there)
void linear_backward(ConstMatMap x, ConstMatMap w, ConstMatMap dy, MatMap dw, VecMap db, MatMap* dx);

// ReLU y = max(z, 0), element-wise. Given the layer's OUTPUT y and dy, in place: dy becomes dz,
// that is dy where y > 0 and 0 where y == 0 (ReLU's derivative at 0 is taken to be 0, as in
// PyTorch).
void relu_backward(ConstMatMap y, MatMap dy);

// Softmax cross-entropy averaged over the batch: logits is batch x classes, labels[i] in
// [0, classes) is row i's class. Returns
//   L = (1/batch) * sum_i ( log(sum_j exp(logits[i][j])) - logits[i][labels[i]] )
// and writes dlogits (batch x classes) = (softmax(logits) - onehot(labels)) / batch.
// Must stay finite for any finite logits, however large (subtract each row's maximum first).
float softmax_cross_entropy(ConstMatMap logits, std::span<const std::int32_t> labels, MatMap dlogits);

// The three functions above as an MLP's backward passes: model.set_layer_ops(lab00::layer_ops())
// makes dtlab::Mlp train with yours. Given, not to implement.
dtlab::LayerOps layer_ops();

// ---- Part 2: alpha and beta of this machine ----

// One point of the latency curve: a message of `bytes` bytes took `seconds` one way.
struct Sample {
  std::uint64_t bytes = 0;
  double seconds = 0;
};

// Ping-pong between ranks 0 and 1 of comm. Collective: every rank of comm calls it with the same
// arguments; comm needs at least 2 ranks (dtlab::Error otherwise), and repetitions must be >= 1.
// For each size in sizes, in order: one untimed warm-up round trip, then `repetitions` timed round
// trips. A round trip is one message of exactly `bytes` bytes (std::uint8_t elements) from rank 0
// to rank 1, then one of the same size back. Rank 0 times each round trip on its own with a
// steady clock. Ranks other than 0 and 1 send and receive nothing.
// Returns, on rank 0, one Sample per size in the order of sizes, whose seconds is the one-way
// time: HALF of the MEDIAN round trip; on every other rank, an empty vector.
std::vector<Sample> pingpong(const Comm& comm, std::span<const std::uint64_t> sizes, int repetitions);

// The alpha-beta model of a message: seconds = alpha + beta * bytes.
struct LineFit {
  double alpha = 0;  // seconds per message (latency)
  double beta = 0;   // seconds per byte (inverse bandwidth)
};

// Least squares on the RELATIVE error: the alpha and beta that minimise
//   sum_k ( (alpha + beta * bytes_k - seconds_k) / seconds_k )^2
// (a weighted least squares with weights 1 / seconds_k^2), in closed form. Throws dtlab::Error
// when samples has fewer than 2 distinct sizes (no line is defined) or a seconds that is not > 0.
// Returns the minimiser as is, even when alpha or beta comes out negative.
LineFit fit_alpha_beta(std::span<const Sample> samples);

}  // namespace lab00
