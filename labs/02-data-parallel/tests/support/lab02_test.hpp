// Helpers shared by Lab 02's public and hidden tests: a small training loop that drives a strategy
// exactly as dtlab::train does, and the oracle it is compared with (one process on the global
// batch). Test code may use the library collectives; the implementation under test may not.
#pragma once

#include <gtest/gtest.h>

#include "lab_test.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <vector>

#include "dtlab/baseline.hpp"
#include "dtlab/data.hpp"
#include "dtlab/train.hpp"
#include "lab02/ddp.hpp"

namespace lab02::test {

using dtlab::Comm;

using dtlab::labtest::for_each_size;
using dtlab::labtest::guarded;

// A synthetic dataset small enough for many short runs: 64 features, 10 classes.
inline const dtlab::DataSplit& data() {
  static const dtlab::DataSplit d = dtlab::make_synthetic({.train = 4096, .test = 256, .seed = 5});
  return d;
}

struct RunConfig {
  dtlab::MlpConfig model{.inputs = 64, .hidden = {48, 32, 24}, .classes = 10};
  std::int64_t global_batch = 48;  // divisible by 1, 2, 3, 4 and by the micro-batch counts used
  int steps = 6;
  int micro_batches = 1;
  // Small enough that the runs are not chaotic: two summation orders of the same gradient then
  // stay within 1e-5 of each other after a few steps (docs/core.md explains why this matters).
  double lr = 0.05;
  std::uint64_t seed = 3;
};

inline std::unique_ptr<dtlab::Optimizer> optimizer(const dtlab::Mlp& model) {
  return dtlab::make_optimizer({.name = "sgd", .momentum = 0.9, .nesterov = true, .weight_decay = 5e-4},
                               model.num_params());
}

// Trains s.steps steps with strategy on comm and returns the final parameters. Each rank gathers
// its share of every global batch with lab02::local_batch, or the whole batch when `whole` (the
// oracle). before_setup may change the model first (e.g. give each rank different parameters).
inline std::vector<float> train(const Comm& comm, dtlab::Strategy& strategy, const RunConfig& s,
                                bool whole = false,
                                const std::function<void(dtlab::Mlp&)>& before_setup = {}) {
  dtlab::Mlp model(s.model);
  model.init(s.seed);
  if (before_setup) before_setup(model);
  auto opt = optimizer(model);
  strategy.setup(comm, model);
  const auto& d = data().train;
  dtlab::DistributedSampler global(d.size, s.global_batch, 0, 1, s.seed);
  const dtlab::Mlp::GradReady ready = [&](int layer) { strategy.grad_ready(comm, model, layer); };
  std::vector<float> xb;
  std::vector<std::int32_t> yb;
  for (int step = 0; step < s.steps; ++step) {
    const auto all = global.indices(step / global.batches_per_epoch(), step % global.batches_per_epoch());
    const auto mine = whole ? all : local_batch(all, comm.rank(), comm.size());
    xb.resize(mine.size() * std::size_t(d.features));
    yb.resize(mine.size());
    d.gather(mine, xb, yb);
    const std::size_t micro = mine.size() / std::size_t(s.micro_batches);
    for (int m = 0; m < s.micro_batches; ++m) {
      strategy.backward_begins(comm, model, m, s.micro_batches);
      model.forward_backward(std::span<const float>(xb).subspan(m * micro * d.features, micro * d.features),
                             std::span<const std::int32_t>(yb).subspan(m * micro, micro), ready, m > 0);
    }
    strategy.step(comm, model, *opt, {.step = step, .lr = s.lr, .micro_batches = s.micro_batches});
  }
  strategy.finish(comm, model);
  return {model.params().begin(), model.params().end()};
}

// The oracle: one process, the whole global batch, no communication (each rank computes it alone).
inline std::vector<float> single_process(const RunConfig& s) {
  const Comm alone = Comm::world().split(Comm::world().rank(), 0);
  dtlab::SingleProcess single;
  RunConfig one = s;
  one.micro_batches = 1;
  return train(alone, single, one, /*whole=*/true);
}

// max |a - b| / max |b|: the error relative to the parameters' scale.
inline double relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return a.size() == b.size() ? diff / std::max(scale, 1e-30) : INFINITY;
}

// True on every rank when every rank holds bitwise the same values as rank 0.
inline bool same_on_every_rank(const Comm& comm, const std::vector<float>& mine) {
  std::vector<float> first = mine;
  dtlab::baseline::broadcast(comm, std::span<float>(first), 0);
  std::int32_t same[1] = {std::memcmp(first.data(), mine.data(), mine.size() * sizeof(float)) == 0};
  dtlab::baseline::allreduce(comm, std::span<std::int32_t>(same), dtlab::ReduceOp::min);
  return same[0] == 1;
}

}  // namespace lab02::test
