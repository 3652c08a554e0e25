#include <cuda_runtime.h>

#include "dtlab/gpu.hpp"

namespace dtlab {

bool built_with_cuda() { return true; }

std::vector<GpuInfo> visible_gpus() {
  int n = 0;
  // No driver or no device: cudaGetDeviceCount fails, which here just means "no GPU".
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return {};
  }
  std::vector<GpuInfo> out;
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (cudaGetDeviceProperties(&p, i) != cudaSuccess) continue;
    out.push_back({i, p.name, p.totalGlobalMem, p.major, p.minor});
  }
  return out;
}

}  // namespace dtlab
