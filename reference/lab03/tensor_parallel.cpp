// Lab 03 reference, Part 1: Megatron-LM's tensor parallelism on dtlab's MLP.
#include <fmt/format.h>

#include <algorithm>

#include "dtlab/error.hpp"
#include "dtlab/layers.hpp"
#include "lab03/model_parallel.hpp"

namespace lab03 {

using dtlab::ConstVecMap;
using dtlab::Trans;
using dtlab::VecMap;

void column_parallel_forward(ConstMatMap x, ConstMatMap w, std::span<const float> b, MatMap y) {
  // This rank's rows of W give its columns of y: the same dot products as the whole layer's.
  dtlab::linear_forward(x, w, ConstVecMap(b.data(), Eigen::Index(b.size())), y);
}

void column_parallel_backward(const Comm& group, const AllreduceFn& allreduce, ConstMatMap x,
                              ConstMatMap w, ConstMatMap dy, MatMap dw, std::span<float> db,
                              MatMap* dx) {
  dtlab::linear_backward(x, w, dy, dw, VecMap(db.data(), Eigen::Index(db.size())), dx);
  // dL/dx = dy W sums over every output; this rank saw only its block of them.
  if (dx) allreduce(group, std::span<float>(dx->data(), std::size_t(dx->size())));
}

void row_parallel_forward(const Comm& group, const AllreduceFn& allreduce, ConstMatMap x,
                          ConstMatMap w, std::span<const float> b, MatMap y) {
  dtlab::gemm(x, Trans::no, w, Trans::yes, y);  // the sum over this rank's inputs only
  if (!b.empty()) y.rowwise() += ConstVecMap(b.data(), Eigen::Index(b.size())).transpose();
  allreduce(group, std::span<float>(y.data(), std::size_t(y.size())));
}

void row_parallel_backward(ConstMatMap x, ConstMatMap w, ConstMatMap dy, MatMap dw,
                           std::span<float> db, MatMap* dx) {
  dtlab::gemm(dy, Trans::yes, x, Trans::no, dw);
  if (!db.empty()) VecMap(db.data(), Eigen::Index(db.size())).noalias() = dy.colwise().sum().transpose();
  // dL/d(this rank's inputs) needs only this rank's columns of W: no communication.
  if (dx) dtlab::gemm(dy, Trans::no, w, Trans::no, *dx);
}

// What forward keeps for backward: every layer's output (after its ReLU), and two buffers for the
// gradient flowing back.
struct TensorParallelMlp::State {
  int batch = 0;
  std::vector<dtlab::AlignedVector<float>> outputs;
  dtlab::AlignedVector<float> input;
  dtlab::AlignedVector<float> delta, spare, dlogits, saved;
};

void TensorParallelMlp::init(std::uint64_t seed) {
  for (const Layer& L : layers_)
    dtlab::init_shard(config_, L.shard, seed, params().subspan(L.weight, L.shard.weight_size()),
                      params().subspan(L.bias, L.shard.bias_size()));
}

std::span<const float> TensorParallelMlp::forward(std::span<const float> x) {
  const std::size_t in = std::size_t(config_.inputs);
  if (x.empty() || x.size() % in != 0)
    throw dtlab::Error(fmt::format("TensorParallelMlp::forward: x needs batch x {} values, got {}", in, x.size()));
  if (!state_) state_ = std::make_shared<State>();
  State& s = *state_;
  s.batch = int(x.size() / in);
  s.input.assign(x.begin(), x.end());
  s.outputs.resize(layers_.size());
  const float* cur = s.input.data();
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    const int in_w = L.shard.in.size(), out_w = L.shard.out.size();
    s.outputs[l].resize(std::size_t(s.batch) * std::size_t(out_w));
    const ConstMatMap X(cur, s.batch, in_w);
    const ConstMatMap W(params_.data() + L.weight, out_w, in_w);
    const std::span<const float> b(params_.data() + L.bias, L.shard.bias_size());
    MatMap Y(s.outputs[l].data(), s.batch, out_w);
    if (L.shard.kind == dtlab::ShardKind::row) row_parallel_forward(group_, allreduce_, X, W, b, Y);
    else column_parallel_forward(X, W, b, Y);  // a replicated layer is a column shard of all
    if (l + 1 < layers_.size()) dtlab::relu_forward(Y);
    cur = s.outputs[l].data();
  }
  return s.outputs.back();
}

float TensorParallelMlp::forward_backward(std::span<const float> x, std::span<const std::int32_t> labels,
                                          bool accumulate) {
  const std::span<const float> logits = forward(x);
  State& s = *state_;
  if (labels.size() != std::size_t(s.batch))
    throw dtlab::Error(fmt::format("TensorParallelMlp: {} samples but {} labels", s.batch, labels.size()));
  int widest = config_.inputs;
  for (const Layer& L : layers_) widest = std::max({widest, L.shard.in.size(), L.shard.out.size()});
  s.delta.resize(std::size_t(s.batch) * std::size_t(widest));
  s.spare.resize(s.delta.size());
  MatMap d(s.delta.data(), s.batch, config_.classes);
  // Every rank has the whole logits, so every rank computes the same loss and dlogits.
  const float loss = dtlab::softmax_cross_entropy(ConstMatMap(logits.data(), s.batch, config_.classes), labels, d);
  for (std::size_t l = layers_.size(); l-- > 0;) {
    const Layer& L = layers_[l];
    const int in_w = L.shard.in.size(), out_w = L.shard.out.size();
    MatMap dy(s.delta.data(), s.batch, out_w);
    if (l + 1 < layers_.size()) dtlab::relu_backward(ConstMatMap(s.outputs[l].data(), s.batch, out_w), dy);
    const ConstMatMap DY(dy.data(), s.batch, out_w);
    const ConstMatMap X(l == 0 ? s.input.data() : s.outputs[l - 1].data(), s.batch, in_w);
    const ConstMatMap W(params_.data() + L.weight, out_w, in_w);
    const std::span<float> g = grads().subspan(L.weight, L.bias + L.shard.bias_size() - L.weight);
    if (accumulate) s.saved.assign(g.begin(), g.end());
    MatMap dw(grads_.data() + L.weight, out_w, in_w);
    const std::span<float> db(grads_.data() + L.bias, L.shard.bias_size());
    MatMap dx(s.spare.data(), s.batch, in_w);
    MatMap* want_dx = l > 0 ? &dx : nullptr;  // the data needs no gradient
    if (L.replicated) dtlab::linear_backward(X, W, DY, dw, VecMap(db.data(), Eigen::Index(db.size())), want_dx);
    else if (L.shard.kind == dtlab::ShardKind::column)
      column_parallel_backward(group_, allreduce_, X, W, DY, dw, db, want_dx);
    else row_parallel_backward(X, W, DY, dw, db, want_dx);
    if (accumulate)
      for (std::size_t i = 0; i < g.size(); ++i) g[i] += s.saved[i];
    std::swap(s.delta, s.spare);
  }
  return loss;
}

}  // namespace lab03
