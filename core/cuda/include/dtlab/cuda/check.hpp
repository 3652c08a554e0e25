// Error checking for the CUDA runtime, cuBLAS and NCCL. Every call goes through one of these
// macros; a failure throws dtlab::Error naming the call, the file and line, and the library's own
// description ("CUDA error: out of memory in cudaMalloc(&p, bytes) at mlp.cpp:42").
//
// Kernel launches report configuration errors only through cudaGetLastError(), and errors inside a
// kernel only at the next synchronising call: DTLAB_CUDA_CHECK(cudaGetLastError()) after a launch
// catches the first kind, and the stream synchronisations the code does anyway catch the second.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <nccl.h>

namespace dtlab::cuda {

[[noreturn]] void fail_cuda(cudaError_t rc, const char* call, const char* file, int line);
[[noreturn]] void fail_cublas(cublasStatus_t rc, const char* call, const char* file, int line);
[[noreturn]] void fail_nccl(ncclResult_t rc, const char* call, const char* file, int line);

}  // namespace dtlab::cuda

#define DTLAB_CUDA_CHECK(call)                                                        \
  do {                                                                                \
    const cudaError_t dtlab_rc_ = (call);                                             \
    if (dtlab_rc_ != cudaSuccess) ::dtlab::cuda::fail_cuda(dtlab_rc_, #call, __FILE__, __LINE__); \
  } while (0)

#define DTLAB_CUBLAS_CHECK(call)                                                      \
  do {                                                                                \
    const cublasStatus_t dtlab_rc_ = (call);                                          \
    if (dtlab_rc_ != CUBLAS_STATUS_SUCCESS)                                           \
      ::dtlab::cuda::fail_cublas(dtlab_rc_, #call, __FILE__, __LINE__);               \
  } while (0)

#define DTLAB_NCCL_CHECK(call)                                                        \
  do {                                                                                \
    const ncclResult_t dtlab_rc_ = (call);                                            \
    if (dtlab_rc_ != ncclSuccess) ::dtlab::cuda::fail_nccl(dtlab_rc_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: a bad launch configuration shows up here, not at the launch.
#define DTLAB_CUDA_CHECK_LAUNCH() DTLAB_CUDA_CHECK(cudaGetLastError())
