// Finite-difference gradient checks: the oracle for every backward pass in dtlab.
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>

namespace dtlab {

struct GradCheckResult {
  double max_error = 0;      // largest |analytic - numeric| / max(|analytic| + |numeric|, floor)
  std::size_t worst = 0;     // index of that parameter
  double analytic = 0;       // the two derivatives there
  double numeric = 0;
  std::size_t checked = 0;   // how many parameters were checked
  bool ok(double tolerance) const { return max_error <= tolerance; }
  std::string describe() const;
};

// loss(params) returns the loss at params; grads holds the analytic gradient at params. Checks
// every parameter (or `samples` of them, evenly spread) against the central difference
// (loss(p + h) - loss(p - h)) / 2h, computed in double around float parameters.
GradCheckResult check_gradient(const std::function<double(std::span<const float>)>& loss,
                               std::span<float> params, std::span<const float> grads,
                               double h = 1e-2, std::size_t samples = 0, double floor = 1e-3);

}  // namespace dtlab
