// The GPU side of `dtlab bench` (cmd_bench_gpu.cpp, built with the CUDA track).
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "dtlab/comm.hpp"

namespace dtlab::cli {

// `dtlab bench train-step --device cuda`: the MLP step on the GPU, its TFLOP/s, next to cuBLAS's
// SGEMM rate on the same GPU.
int run_gpu_train_step(const Comm& world, const std::vector<int>& hidden, int batch, bool tf32,
                       const std::string& json);

}  // namespace dtlab::cli
