#include "dtlab/cuda/check.hpp"

#include <fmt/format.h>

#include <filesystem>

#include "dtlab/error.hpp"

namespace dtlab::cuda {

namespace {
std::string where(const char* call, const char* file, int line) {
  return fmt::format("in {} at {}:{}", call, std::filesystem::path(file).filename().string(), line);
}
}  // namespace

void fail_cuda(cudaError_t rc, const char* call, const char* file, int line) {
  // The runtime also records the error as the thread's last error: left there, a caught failure
  // (a cudaMalloc too large) would be reported again by the next launch check, far from its cause.
  // Sticky errors (a kernel's illegal address) stay: the context is unusable after them anyway.
  cudaGetLastError();
  throw Error(fmt::format("CUDA error {} ({}): {} {}", int(rc), cudaGetErrorName(rc),
                          cudaGetErrorString(rc), where(call, file, line)));
}

void fail_cublas(cublasStatus_t rc, const char* call, const char* file, int line) {
  throw Error(fmt::format("cuBLAS error {} ({}): {} {}", int(rc), cublasGetStatusName(rc),
                          cublasGetStatusString(rc), where(call, file, line)));
}

void fail_nccl(ncclResult_t rc, const char* call, const char* file, int line) {
  throw Error(fmt::format("NCCL error {}: {} {}{}", int(rc), ncclGetErrorString(rc),
                          where(call, file, line),
                          rc == ncclSystemError || rc == ncclInternalError
                              ? " (run with NCCL_DEBUG=WARN for NCCL's own account)"
                              : ""));
}

}  // namespace dtlab::cuda
