// Timing a step that every rank of a group runs: how the labs' benchmarks and side-by-side
// programs measure, so that their figures mean the same thing.
#pragma once

#include <algorithm>
#include <cmath>
#include <span>

#include "dtlab/baseline.hpp"
#include "dtlab/comm.hpp"
#include "dtlab/oplog.hpp"

namespace dtlab {

// Seconds per call of fn(i), i = 0 .. iters - 1, on the slowest rank of c, in the fastest of
// `trials` trials. The slowest rank, because a step is done when its last rank is; the fastest
// trial, because it is the one the rest of the machine disturbed least. Collective over c.
template <class F>
double time_per_call(const Comm& c, int iters, F&& fn, int trials = 3) {
  double best = INFINITY;
  for (int trial = 0; trial < trials; ++trial) {
    c.barrier();
    double t[1] = {steady_seconds()};
    for (int i = 0; i < iters; ++i) fn(i);
    t[0] = (steady_seconds() - t[0]) / iters;
    baseline::allreduce(c, std::span<double>(t), ReduceOp::max);
    best = std::min(best, t[0]);
  }
  return best;
}

}  // namespace dtlab
