// Lab 03, Part 1: tensor parallelism. Replace every NotImplemented with your code; the handout
// (labs/03-model-parallel/README.md) walks through each part, and lab03/model_parallel.hpp states
// what each function must do.
#include <fmt/format.h>

#include "dtlab/error.hpp"
#include "dtlab/layers.hpp"
#include "lab03/model_parallel.hpp"

namespace lab03 {

void column_parallel_forward(ConstMatMap x, ConstMatMap w, std::span<const float> b, MatMap y) {
  throw dtlab::NotImplemented("lab03::column_parallel_forward");
}

void column_parallel_backward(const Comm& group, const AllreduceFn& allreduce, ConstMatMap x,
                              ConstMatMap w, ConstMatMap dy, MatMap dw, std::span<float> db,
                              MatMap* dx) {
  throw dtlab::NotImplemented("lab03::column_parallel_backward");
}

void row_parallel_forward(const Comm& group, const AllreduceFn& allreduce, ConstMatMap x,
                          ConstMatMap w, std::span<const float> b, MatMap y) {
  throw dtlab::NotImplemented("lab03::row_parallel_forward");
}

void row_parallel_backward(ConstMatMap x, ConstMatMap w, ConstMatMap dy, MatMap dw,
                           std::span<float> db, MatMap* dx) {
  throw dtlab::NotImplemented("lab03::row_parallel_backward");
}

// What forward keeps for backward (each layer's output, workspaces...): forward makes it
// (state_ = std::make_shared<State>()).
struct TensorParallelMlp::State {};

void TensorParallelMlp::init(std::uint64_t seed) {
  throw dtlab::NotImplemented("lab03::TensorParallelMlp::init");
}

std::span<const float> TensorParallelMlp::forward(std::span<const float> x) {
  throw dtlab::NotImplemented("lab03::TensorParallelMlp::forward");
}

float TensorParallelMlp::forward_backward(std::span<const float> x, std::span<const std::int32_t> labels,
                                          bool accumulate) {
  throw dtlab::NotImplemented("lab03::TensorParallelMlp::forward_backward");
}

}  // namespace lab03
