// Lab 05's given problems for Hogwild!: a sparse logistic regression generated from a seed, and
// dtlab's MLP on a dataset.
#include "lab05/problems.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "dtlab/error.hpp"
#include "dtlab/rng.hpp"

namespace lab05 {

namespace {
// log(1 + exp(-m)) and its derivative in m, without overflow for large |m|.
double softplus_neg(double m) { return m > 0 ? std::log1p(std::exp(-m)) : -m + std::log1p(std::exp(m)); }
double sigmoid_neg(double m) { return m > 0 ? std::exp(-m) / (1 + std::exp(-m)) : 1 / (1 + std::exp(m)); }
}  // namespace

SparseLogistic::SparseLogistic(SparseLogisticConfig c) : config_(c) {
  if (c.samples < 1 || c.nnz < 1 || c.nnz > c.dim || c.dim > (std::size_t(1) << 31))
    throw dtlab::Error(fmt::format("sparse problem: {} samples of {} features out of {}: expected 1 <= nnz <= dim < 2^31 "
                                   "and at least one sample",
                                   c.samples, c.nnz, c.dim));
  if (!(c.noise >= 0 && c.noise < 0.5)) throw dtlab::Error(fmt::format("sparse problem: noise {}: expected in [0, 0.5)", c.noise));
  dtlab::Rng rng(c.seed);
  std::vector<float> hidden(c.dim);
  for (float& h : hidden) h = float(rng.normal());
  const float x = float(1 / std::sqrt(double(c.nnz)));
  offsets_.reserve(c.samples + 1);
  offsets_.push_back(0);
  index_.reserve(c.samples * c.nnz);
  value_.reserve(c.samples * c.nnz);
  std::vector<std::uint32_t> row;
  for (std::size_t i = 0; i < c.samples; ++i) {
    row.clear();
    while (row.size() < c.nnz) {  // nnz distinct features (rejection: nnz << dim)
      const auto j = std::uint32_t(rng.below(c.dim));
      if (std::find(row.begin(), row.end(), j) == row.end()) row.push_back(j);
    }
    std::sort(row.begin(), row.end());
    double score = 0;
    for (const std::uint32_t j : row) {
      const float v = rng.uniform() < 0.5 ? -x : x;
      index_.push_back(j);
      value_.push_back(v);
      score += double(v) * hidden[j];
    }
    const bool flip = rng.uniform() < c.noise;
    label_.push_back((score >= 0) != flip ? 1.0f : -1.0f);
    offsets_.push_back(index_.size());
  }
}

std::span<const std::uint32_t> SparseLogistic::touched(std::size_t i) const {
  return {index_.data() + offsets_[i], offsets_[i + 1] - offsets_[i]};
}

double SparseLogistic::gradient(std::size_t i, std::span<const float> w, Scratch&, std::span<float> g) const {
  const std::size_t b = offsets_[i], n = offsets_[i + 1] - b;
  double score = 0;
  for (std::size_t k = 0; k < n; ++k) score += double(w[k]) * value_[b + k];
  const double m = label_[i] * score;  // the margin
  const double coef = -label_[i] * sigmoid_neg(m);
  for (std::size_t k = 0; k < n; ++k) g[k] = float(coef * value_[b + k]);
  return softplus_neg(m);
}

double SparseLogistic::loss(std::span<const float> w) const {
  double sum = 0;
  for (std::size_t i = 0; i < config_.samples; ++i) {
    double score = 0;
    for (std::size_t k = offsets_[i]; k < offsets_[i + 1]; ++k) score += double(w[index_[k]]) * value_[k];
    sum += softplus_neg(label_[i] * score);
  }
  return sum / double(config_.samples);
}

// ---- the MLP ----

namespace {
struct MlpScratch : HogwildProblem::Scratch {
  explicit MlpScratch(const dtlab::MlpConfig& c, std::int64_t batch, int features)
      : model(c), x(std::size_t(batch * features)), y(std::size_t(batch)) {}
  dtlab::Mlp model;
  std::vector<float> x;
  std::vector<std::int32_t> y;
};
}  // namespace

MlpProblem::MlpProblem(dtlab::MlpConfig model, const dtlab::Dataset& data, std::int64_t batch)
    : model_(model), data_(data), batch_(batch), dim_(dtlab::Mlp(model).num_params()),
      steps_(batch > 0 ? std::size_t(data.size / batch) : 0) {
  if (data.features != model.inputs || data.classes != model.classes)
    throw dtlab::Error(fmt::format("model {} does not fit dataset {}", model.describe(), data.name));
  if (batch < 1 || steps_ < 1)
    throw dtlab::Error(fmt::format("MLP problem: batch {} of {} samples: expected 1 <= batch <= samples", batch, data.size));
}

std::unique_ptr<HogwildProblem::Scratch> MlpProblem::scratch() const {
  return std::make_unique<MlpScratch>(model_, batch_, data_.features);
}

double MlpProblem::gradient(std::size_t i, std::span<const float> w, Scratch& scratch, std::span<float> g) const {
  auto& s = static_cast<MlpScratch&>(scratch);
  std::copy(w.begin(), w.end(), s.model.params().begin());
  data_.slice(std::int64_t(i) * batch_, batch_, s.x, s.y);
  const double loss = s.model.forward_backward(s.x, s.y);
  std::copy(s.model.grads().begin(), s.model.grads().end(), g.begin());
  return loss;
}

double MlpProblem::loss(std::span<const float> w) const {
  MlpScratch s(model_, batch_, data_.features);
  std::copy(w.begin(), w.end(), s.model.params().begin());
  double sum = 0;
  for (std::size_t i = 0; i < steps_; ++i) {
    data_.slice(std::int64_t(i) * batch_, batch_, s.x, s.y);
    sum += s.model.evaluate(s.x, s.y).loss_sum;
  }
  return sum / double(steps_ * std::size_t(batch_));
}

}  // namespace lab05
