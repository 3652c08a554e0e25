// Choosing the fastest of several measured candidates so that noise cannot flip the choice.
#pragma once

#include <algorithm>
#include <cstddef>
#include <span>

namespace dtlab {

// The first candidate (in the caller's order of preference) whose time is within `tie` times the
// fastest one's: two candidates within measurement noise of each other then never trade places
// from one measurement to the next. Used by the SGEMM probe (cmake/gemm_probe.cpp) and by
// `dtlab bench allreduce --tune`. seconds must not be empty.
inline std::size_t first_within(std::span<const double> seconds, double tie = 1.03) {
  const double fastest = *std::min_element(seconds.begin(), seconds.end());
  std::size_t i = 0;
  while (seconds[i] > tie * fastest) ++i;
  return i;
}

}  // namespace dtlab
