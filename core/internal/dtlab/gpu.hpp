// What GPUs this process can see.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace dtlab {

struct GpuInfo {
  int index = 0;
  std::string name;
  std::size_t memory_bytes = 0;
  int compute_major = 0;
  int compute_minor = 0;
  std::string uuid;  // "GPU-xxxxxxxx-...", as nvidia-smi -L prints it: one physical GPU, whatever
                     // index CUDA_VISIBLE_DEVICES gives it in this process
};

bool built_with_cuda();

// Empty when dtlab was built without CUDA, when there is no NVIDIA driver, or when the driver sees
// no device (cudaErrorNoDevice). Any other failure to start CUDA (a driver older than the
// runtime, no memory for the context) throws dtlab::Error naming it: a broken GPU set-up is an
// error, not an absent GPU, or tests that need a GPU would skip and pass on it.
std::vector<GpuInfo> visible_gpus();

// DTLAB_REQUIRE_GPU=1 (set by tools/gpu-check/run on a GPU machine): GPU tests fail instead of
// skipping when no GPU is visible.
inline bool gpu_required() {
  const char* v = std::getenv("DTLAB_REQUIRE_GPU");
  return v && std::string_view(v) == "1";
}

}  // namespace dtlab
