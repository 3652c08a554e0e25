// Timing helpers of the benchmark programs (dtlab bench, the labs' bench programs): repeated
// trials against a noisy machine, and message sizes as nccl-tests writes them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "dtlab/oplog.hpp"  // steady_seconds

namespace dtlab::program {

// Best of `trials` runs of f, each the mean over `iters` calls: the usual guard against a noisy
// neighbour on a shared machine.
template <class F>
double best_mean(int trials, std::int64_t iters, F&& f) {
  double best = INFINITY;
  for (int t = 0; t < trials; ++t) {
    const double t0 = steady_seconds();
    for (std::int64_t i = 0; i < iters; ++i) f();
    best = std::min(best, (steady_seconds() - t0) / double(iters));
  }
  return best;
}

// Iterations that make one trial last about `target` seconds, given one call took `one`.
inline std::int64_t iterations_for(double one, double target, std::int64_t lo, std::int64_t hi) {
  return std::clamp<std::int64_t>(std::int64_t(target / std::max(one, 1e-9)), lo, hi);
}

// min, 2 min, 4 min, ... up to max.
std::vector<std::uint64_t> sizes(std::uint64_t min, std::uint64_t max);

// 4, 4K, 64M, 1G (powers of 1024), as nccl-tests accepts; a clear error otherwise.
std::uint64_t parse_bytes(const std::string& text);

}  // namespace dtlab::program
