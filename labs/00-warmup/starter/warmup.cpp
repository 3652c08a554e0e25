// Lab 00: warm-up. Implement every function below; labs/00-warmup/README.md derives each gradient,
// explains the ping-pong and the fit, and says how you are graded. Test with:
//   ./dtlab grade lab00                 (the public tests and the alpha-beta match, on your copy)
//   ./dtlab grade lab00 --only linear   (one part)
#include "dtlab/error.hpp"
#include "lab00/warmup.hpp"

namespace lab00 {

void linear_backward(ConstMatMap x, ConstMatMap w, ConstMatMap dy, MatMap dw, VecMap db, MatMap* dx) {
  throw dtlab::NotImplemented("lab00::linear_backward");
}

void relu_backward(ConstMatMap y, MatMap dy) {
  throw dtlab::NotImplemented("lab00::relu_backward");
}

float softmax_cross_entropy(ConstMatMap logits, std::span<const std::int32_t> labels, MatMap dlogits) {
  throw dtlab::NotImplemented("lab00::softmax_cross_entropy");
}

std::vector<Sample> pingpong(const Comm& comm, std::span<const std::uint64_t> sizes, int repetitions) {
  throw dtlab::NotImplemented("lab00::pingpong");
}

LineFit fit_alpha_beta(std::span<const Sample> samples) {
  throw dtlab::NotImplemented("lab00::fit_alpha_beta");
}

}  // namespace lab00
