#include "dtlab/layers.hpp"

#include <cmath>

namespace dtlab {

void linear_forward(ConstMatMap x, ConstMatMap w, ConstVecMap b, MatMap y) {
  gemm(x, Trans::no, w, Trans::yes, y);
  y.rowwise() += b.transpose();
}

void linear_backward(ConstMatMap x, ConstMatMap w, ConstMatMap dy, MatMap dw, VecMap db,
                     MatMap* dx) {
  gemm(dy, Trans::yes, x, Trans::no, dw);
  db.noalias() = dy.colwise().sum().transpose();
  if (dx) gemm(dy, Trans::no, w, Trans::no, *dx);
}

void relu_forward(MatMap y) { y = y.cwiseMax(0.0f); }

void relu_backward(ConstMatMap y, MatMap dy) {
  dy = (y.array() > 0.0f).select(dy, 0.0f);
}

namespace {
// log(sum(exp(row))) with the row's max subtracted first, so that exp never overflows.
template <class Row>
float log_sum_exp(const Row& row, float max) {
  return max + std::log((row.array() - max).exp().sum());
}
}  // namespace

float softmax_cross_entropy(ConstMatMap logits, std::span<const std::int32_t> labels,
                            MatMap dlogits) {
  const Eigen::Index n = logits.rows();
  const float inv_n = 1.0f / float(n);
  double total = 0;
  for (Eigen::Index i = 0; i < n; ++i) {
    const auto row = logits.row(i);
    const float max = row.maxCoeff();
    const float lse = log_sum_exp(row, max);
    total += lse - row(labels[i]);
    dlogits.row(i) = ((row.array() - lse).exp() * inv_n).matrix();
    dlogits(i, labels[i]) -= inv_n;
  }
  return float(total / double(n));
}

float softmax_cross_entropy_loss(ConstMatMap logits, std::span<const std::int32_t> labels) {
  double total = 0;
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    const auto row = logits.row(i);
    total += log_sum_exp(row, row.maxCoeff()) - row(labels[i]);
  }
  return float(total / double(logits.rows()));
}

std::int64_t count_correct(ConstMatMap logits, std::span<const std::int32_t> labels) {
  std::int64_t correct = 0;
  for (Eigen::Index i = 0; i < logits.rows(); ++i) {
    Eigen::Index arg = 0;
    logits.row(i).maxCoeff(&arg);
    correct += arg == labels[i];
  }
  return correct;
}

}  // namespace dtlab
