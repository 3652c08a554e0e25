// Device memory, pinned host memory, streams and events as RAII types.
//
// Plain cudaMalloc, never managed memory: where data lives and when it moves is part of what the
// course teaches, and managed memory would hide both (and its page faults would hide in timings).
// Every type is move-only and frees what it owns in its destructor.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <span>
#include <utility>

#include "dtlab/cuda/check.hpp"

namespace dtlab::cuda {

// n elements of T in device memory. Contents are uninitialised until written.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) { resize(n); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (p_) cudaFree(p_);  // may not throw; an error here is reported by the next checked call
  }

  // Reallocates (discarding the contents) when n differs from the current size.
  void resize(std::size_t n) {
    if (n == n_) return;
    if (p_) DTLAB_CUDA_CHECK(cudaFree(p_));
    p_ = nullptr;
    n_ = 0;
    if (n) DTLAB_CUDA_CHECK(cudaMalloc(&p_, n * sizeof(T)));
    n_ = n;
  }

  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  std::size_t bytes() const { return n_ * sizeof(T); }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// n elements of T in page-locked host memory: what cudaMemcpyAsync needs to be asynchronous, and
// what NIC/MPI staging of device data goes through.
template <class T>
class PinnedBuffer {
 public:
  PinnedBuffer() = default;
  explicit PinnedBuffer(std::size_t n) { resize(n); }
  PinnedBuffer(PinnedBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  PinnedBuffer& operator=(PinnedBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() {
    if (p_) cudaFreeHost(p_);
  }

  // Grows (discarding the contents) when n exceeds the current size; never shrinks.
  void reserve(std::size_t n) {
    if (n > n_) resize(n);
  }
  void resize(std::size_t n) {
    if (n == n_) return;
    if (p_) DTLAB_CUDA_CHECK(cudaFreeHost(p_));
    p_ = nullptr;
    n_ = 0;
    if (n) DTLAB_CUDA_CHECK(cudaMallocHost(&p_, n * sizeof(T)));
    n_ = n;
  }

  T* data() { return p_; }
  std::size_t size() const { return n_; }
  std::span<T> span() { return {p_, n_}; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// A CUDA stream that does not synchronise with the legacy default stream.
class Stream {
 public:
  Stream() { DTLAB_CUDA_CHECK(cudaStreamCreateWithFlags(&s_, cudaStreamNonBlocking)); }
  Stream(Stream&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Stream& operator=(Stream&&) = delete;
  Stream(const Stream&) = delete;
  ~Stream() {
    if (s_) cudaStreamDestroy(s_);
  }
  cudaStream_t get() const { return s_; }
  operator cudaStream_t() const { return s_; }
  void synchronize() const { DTLAB_CUDA_CHECK(cudaStreamSynchronize(s_)); }
  // Work enqueued on this stream from now on waits for what e captured.
  void wait(cudaEvent_t e) const { DTLAB_CUDA_CHECK(cudaStreamWaitEvent(s_, e, 0)); }

 private:
  cudaStream_t s_ = nullptr;
};

// A CUDA event: a point in a stream's work that another stream (or the host) can wait for.
class Event {
 public:
  // timing = false is cheaper and is what pure ordering between streams needs.
  explicit Event(bool timing = false) {
    DTLAB_CUDA_CHECK(cudaEventCreateWithFlags(&e_, timing ? cudaEventDefault : cudaEventDisableTiming));
  }
  Event(Event&& o) noexcept : e_(std::exchange(o.e_, nullptr)) {}
  Event& operator=(Event&&) = delete;
  Event(const Event&) = delete;
  ~Event() {
    if (e_) cudaEventDestroy(e_);
  }
  cudaEvent_t get() const { return e_; }
  operator cudaEvent_t() const { return e_; }
  void record(cudaStream_t s) const { DTLAB_CUDA_CHECK(cudaEventRecord(e_, s)); }
  void synchronize() const { DTLAB_CUDA_CHECK(cudaEventSynchronize(e_)); }
  // Milliseconds between two timing events, both complete.
  static float elapsed_ms(const Event& start, const Event& end) {
    float ms = 0;
    DTLAB_CUDA_CHECK(cudaEventElapsedTime(&ms, start.e_, end.e_));
    return ms;
  }

 private:
  cudaEvent_t e_ = nullptr;
};

// Host <-> device copies ordered on a stream. From pinned memory they are asynchronous; from
// pageable memory CUDA copies through a staging buffer and returns once the source was read.
template <class T>
void copy_to_device(T* dst, const T* src, std::size_t n, cudaStream_t s) {
  DTLAB_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyHostToDevice, s));
}
template <class T>
void copy_to_host(T* dst, const T* src, std::size_t n, cudaStream_t s) {
  DTLAB_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(T), cudaMemcpyDeviceToHost, s));
}

}  // namespace dtlab::cuda
