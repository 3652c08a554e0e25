// The layers of dtlab's MLP as free functions on row-major Eigen matrices (one sample per row, as
// in PyTorch). Lab 00 has students write the backward passes; the MLP (mlp.hpp) only composes them.
#pragma once

#include <cstdint>
#include <span>

#include "dtlab/gemm.hpp"

namespace dtlab {

// y = x w^T + b, with x: batch x in, w: out x in (PyTorch's Linear layout), b: out, y: batch x out.
void linear_forward(ConstMatMap x, ConstMatMap w, ConstVecMap b, MatMap y);

// Given dy = dL/dy: dw = dy^T x, db = column sums of dy, and (unless dx is null) dx = dy w.
void linear_backward(ConstMatMap x, ConstMatMap w, ConstMatMap dy, MatMap dw, VecMap db, MatMap* dx);

// In place: y = max(y, 0).
void relu_forward(MatMap y);

// In place: dy *= (y > 0), where y is the ReLU's output.
void relu_backward(ConstMatMap y, MatMap dy);

// Mean softmax cross-entropy of logits against labels; dlogits = dL/dlogits = (softmax - onehot) /
// batch. labels must lie in [0, classes). Computed in a numerically stable way (max subtracted).
float softmax_cross_entropy(ConstMatMap logits, std::span<const std::int32_t> labels,
                            MatMap dlogits);

// Mean softmax cross-entropy only, and how many rows the argmax gets right.
float softmax_cross_entropy_loss(ConstMatMap logits, std::span<const std::int32_t> labels);
std::int64_t count_correct(ConstMatMap logits, std::span<const std::int32_t> labels);

}  // namespace dtlab
