// What the GPU tests share: skipping cleanly where no GPU is visible (CI), and host copies.
#pragma once

#include <gtest/gtest.h>

#include <span>
#include <vector>

#include "dtlab/cuda/memory.hpp"
#include "dtlab/gpu.hpp"

// Skips the test unless a CUDA device is visible, or fails it where DTLAB_REQUIRE_GPU=1 says
// one must be (a GPU run must not pass by skipping). Every rank of a job sees the same answer on
// one machine, so MPI tests skip on all ranks together. A CUDA set-up that is broken rather than
// absent makes visible_gpus() throw: the test fails, naming the error.
#define DTLAB_REQUIRE_GPU()                                                                 \
  do {                                                                                      \
    if (::dtlab::visible_gpus().empty()) {                                                  \
      if (::dtlab::gpu_required()) FAIL() << "DTLAB_REQUIRE_GPU=1 but no CUDA device is visible"; \
      GTEST_SKIP() << "no CUDA device visible";                                             \
    }                                                                                       \
  } while (0)

namespace dtlab::test {

// The copies and fills below run on the legacy default stream, which does not order the
// non-blocking streams the code under test uses; a copy from pageable memory may even return
// before its DMA is done. So each waits for the device before handing the buffer over.
template <class T>
cuda::DeviceBuffer<T> to_device(std::span<const T> host) {
  cuda::DeviceBuffer<T> d(host.size());
  if (!host.empty()) DTLAB_CUDA_CHECK(cudaMemcpy(d.data(), host.data(), host.size_bytes(), cudaMemcpyHostToDevice));
  DTLAB_CUDA_CHECK(cudaDeviceSynchronize());
  return d;
}
template <class T>
cuda::DeviceBuffer<T> zeros(std::size_t n) {
  cuda::DeviceBuffer<T> d(n);
  if (n) DTLAB_CUDA_CHECK(cudaMemset(d.data(), 0, d.bytes()));
  DTLAB_CUDA_CHECK(cudaDeviceSynchronize());
  return d;
}
template <class T>
cuda::DeviceBuffer<T> to_device(const std::vector<T>& host) {
  return to_device(std::span<const T>(host));
}

template <class T>
std::vector<T> to_host(const T* device, std::size_t n) {
  std::vector<T> h(n);
  DTLAB_CUDA_CHECK(cudaDeviceSynchronize());
  if (n) DTLAB_CUDA_CHECK(cudaMemcpy(h.data(), device, n * sizeof(T), cudaMemcpyDeviceToHost));
  return h;
}

}  // namespace dtlab::test
