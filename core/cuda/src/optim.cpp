#include "dtlab/cuda/optim.hpp"

#include <cmath>

#include "dtlab/cuda/kernels.hpp"

namespace dtlab::cuda {

GpuOptimizer::GpuOptimizer(const OptimizerConfig& config, std::size_t n) : config_(config), n_(n) {
  make_optimizer(config, 0);  // the CPU factory's checks: one set of rules for both devices
  a_.resize(n);
  DTLAB_CUDA_CHECK(cudaMemset(a_.data(), 0, a_.bytes()));
  if (config.name != "sgd") {
    b_.resize(n);
    DTLAB_CUDA_CHECK(cudaMemset(b_.data(), 0, b_.bytes()));
  }
  // cudaMemset runs on the legacy default stream, which does not order the non-blocking streams
  // step() launches on: without this wait, a first step could read the state before it is zero.
  DTLAB_CUDA_CHECK(cudaDeviceSynchronize());
}

void GpuOptimizer::step(float* p, const float* g, double lr, float scale, cudaStream_t stream) {
  const OptimizerConfig& c = config_;
  if (c.name == "sgd") {
    // As the CPU Sgd: the momentum buffer starts as the first gradient.
    const float mu = float(c.momentum);
    const float keep = steps_ == 0 ? 0.0f : mu;
    const float cg = c.nesterov ? 1.0f : 0.0f, cb = c.nesterov ? mu : 1.0f;
    sgd_update(p, g, a_.data(), n_, float(lr), scale, float(c.weight_decay), keep, cg, cb, stream);
    ++steps_;
    return;
  }
  ++steps_;
  const bool decoupled = c.name == "adamw";
  const double bc1 = 1 - std::pow(c.beta1, double(steps_));
  const double bc2 = 1 - std::pow(c.beta2, double(steps_));
  adam_update(p, g, a_.data(), b_.data(), n_, scale, float(c.weight_decay), decoupled,
              float(c.beta1), float(c.beta2), float(c.eps), float(lr / bc1),
              float(1 / std::sqrt(bc2)), decoupled ? float(1 - lr * c.weight_decay) : 1.0f, stream);
}

}  // namespace dtlab::cuda
