// What the GPU tests share: skipping cleanly where no GPU is visible (CI), and host copies.
#pragma once

#include <gtest/gtest.h>

#include <span>
#include <vector>

#include "dtlab/cuda/memory.hpp"
#include "dtlab/gpu.hpp"

// Skips the test unless a CUDA device is visible. Every rank of a job sees the same answer on
// one machine, so MPI tests skip on all ranks together.
#define DTLAB_REQUIRE_GPU()                                                       \
  do {                                                                            \
    if (::dtlab::visible_gpus().empty()) GTEST_SKIP() << "no CUDA device visible"; \
  } while (0)

namespace dtlab::test {

template <class T>
cuda::DeviceBuffer<T> to_device(std::span<const T> host) {
  cuda::DeviceBuffer<T> d(host.size());
  if (!host.empty()) DTLAB_CUDA_CHECK(cudaMemcpy(d.data(), host.data(), host.size_bytes(), cudaMemcpyHostToDevice));
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
