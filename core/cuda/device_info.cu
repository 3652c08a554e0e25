#include <cuda_runtime.h>
#include <dlfcn.h>
#include <fmt/format.h>

#include "dtlab/error.hpp"
#include "dtlab/gpu.hpp"

namespace dtlab {

bool built_with_cuda() { return true; }

namespace {
// Whether the NVIDIA driver's library exists here at all: without it the runtime reports
// cudaErrorInsufficientDriver, exactly as it does for a driver too old for it.
bool driver_installed() {
  void* h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (h) dlclose(h);
  return h != nullptr;
}

std::string uuid_text(const cudaUUID_t& u) {
  const auto* b = reinterpret_cast<const unsigned char*>(u.bytes);
  return fmt::format("GPU-{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-"
                     "{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
                     b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                     b[13], b[14], b[15]);
}
}  // namespace

std::vector<GpuInfo> visible_gpus() {
  int n = 0;
  if (const cudaError_t rc = cudaGetDeviceCount(&n); rc != cudaSuccess) {
    cudaGetLastError();
    if (rc == cudaErrorNoDevice || (rc == cudaErrorInsufficientDriver && !driver_installed())) return {};
    throw Error(fmt::format("CUDA cannot start: {} ({}); check the driver with nvidia-smi (it must "
                            "support CUDA {}.{} or later)",
                            cudaGetErrorName(rc), cudaGetErrorString(rc), CUDART_VERSION / 1000,
                            CUDART_VERSION % 1000 / 10));
  }
  std::vector<GpuInfo> out;
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp p{};
    if (const cudaError_t rc = cudaGetDeviceProperties(&p, i); rc != cudaSuccess) {
      cudaGetLastError();
      throw Error(fmt::format("cudaGetDeviceProperties of device {}: {}", i, cudaGetErrorString(rc)));
    }
    out.push_back({i, p.name, p.totalGlobalMem, p.major, p.minor, uuid_text(p.uuid)});
  }
  return out;
}

}  // namespace dtlab
