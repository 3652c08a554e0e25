#include "dtlab/gradcheck.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace dtlab {

std::string GradCheckResult::describe() const {
  return fmt::format("checked {} parameters; worst is #{}: analytic {:.6g} vs numeric {:.6g} "
                     "(relative error {:.3g})",
                     checked, worst, analytic, numeric, max_error);
}

GradCheckResult check_gradient(const std::function<double(std::span<const float>)>& loss,
                               std::span<float> params, std::span<const float> grads, double h,
                               std::size_t samples, double floor) {
  GradCheckResult r;
  const std::size_t n = params.size();
  const std::size_t stride = samples == 0 || samples >= n ? 1 : n / samples;
  for (std::size_t i = 0; i < n; i += stride) {
    const float saved = params[i];
    params[i] = float(double(saved) + h);
    const double up = loss(params);
    params[i] = float(double(saved) - h);
    const double down = loss(params);
    params[i] = saved;
    const double numeric = (up - down) / (2 * h);
    const double analytic = grads[i];
    const double err =
        std::abs(analytic - numeric) / std::max(std::abs(analytic) + std::abs(numeric), floor);
    ++r.checked;
    if (err > r.max_error || r.checked == 1) {
      r.max_error = err;
      r.worst = i;
      r.analytic = analytic;
      r.numeric = numeric;
    }
  }
  return r;
}

}  // namespace dtlab
