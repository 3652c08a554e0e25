// The optimizers of dtlab/optim.hpp on device buffers: one fused kernel per step, the same update
// rules (PyTorch's SGD, Adam, AdamW), the same settings, validated the same way.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "dtlab/cuda/memory.hpp"
#include "dtlab/optim.hpp"

namespace dtlab::cuda {

class GpuOptimizer {
 public:
  // Throws dtlab::Error for an unknown name or an out-of-range setting (as make_optimizer does).
  GpuOptimizer(const OptimizerConfig& config, std::size_t num_params);

  const std::string& name() const { return config_.name; }
  // Queues one update of params from grad_scale * grads on stream.
  void step(float* params, const float* grads, double lr, float grad_scale, cudaStream_t stream);
  std::int64_t steps() const { return steps_; }

 private:
  OptimizerConfig config_;
  std::size_t n_;
  DeviceBuffer<float> a_, b_;  // sgd: a_ = momentum buffer; adam: a_ = exp_avg, b_ = exp_avg_sq
  std::int64_t steps_ = 0;
};

}  // namespace dtlab::cuda
