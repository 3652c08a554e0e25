// Lab 05's given problems for Hogwild! (Part 2): a sparse logistic regression, where Hogwild's
// assumption holds, and dtlab's MLP on Fashion-MNIST, where it does not.
#pragma once

#include <cstdint>
#include <vector>

#include "dtlab/data.hpp"
#include "dtlab/mlp.hpp"
#include "lab05/async_sgd.hpp"

namespace lab05 {

// A binary logistic regression on sparse samples, generated from a seed: sample i has `nnz`
// distinct features of `dim`, each +-1/sqrt(nnz); its label is the sign of a hidden Gaussian
// weight vector's score, flipped with probability `noise`. The loss of a step (one sample) is
// log(1 + exp(-y w.x)). With dim >> nnz * threads, two threads rarely touch the same coordinate.
struct SparseLogisticConfig {
  std::size_t samples = 20000;
  std::size_t dim = 100000;
  std::size_t nnz = 16;
  double noise = 0.05;
  std::uint64_t seed = 1;
};

class SparseLogistic : public HogwildProblem {
 public:
  explicit SparseLogistic(SparseLogisticConfig config);  // throws dtlab::Error for bad sizes

  std::size_t dim() const override { return config_.dim; }
  std::size_t steps() const override { return config_.samples; }
  std::span<const std::uint32_t> touched(std::size_t i) const override;
  std::unique_ptr<Scratch> scratch() const override { return std::make_unique<Scratch>(); }
  double gradient(std::size_t i, std::span<const float> w, Scratch& scratch, std::span<float> g) const override;
  double loss(std::span<const float> w) const override;
  const SparseLogisticConfig& config() const { return config_; }

 private:
  SparseLogisticConfig config_;
  std::vector<std::size_t> offsets_;   // CSR: sample i's features are [offsets_[i], offsets_[i+1])
  std::vector<std::uint32_t> index_;   // ascending within a sample
  std::vector<float> value_;
  std::vector<float> label_;           // +1 or -1
};

// dtlab's MLP on a dataset: step i is mini-batch i of `batch` samples (in the dataset's order;
// epoch_order shuffles the mini-batches); every step touches every parameter.
class MlpProblem : public HogwildProblem {
 public:
  MlpProblem(dtlab::MlpConfig model, const dtlab::Dataset& data, std::int64_t batch);

  std::size_t dim() const override { return dim_; }
  std::size_t steps() const override { return steps_; }
  std::span<const std::uint32_t> touched(std::size_t) const override { return {}; }
  std::unique_ptr<Scratch> scratch() const override;
  double gradient(std::size_t i, std::span<const float> w, Scratch& scratch, std::span<float> g) const override;
  double loss(std::span<const float> w) const override;

 private:
  dtlab::MlpConfig model_;
  const dtlab::Dataset& data_;
  std::int64_t batch_;
  std::size_t dim_, steps_;
};

}  // namespace lab05
