// Device memory, pinned host memory, streams and events as RAII types.
//
// Plain cudaMalloc, never managed memory: where data lives and when it moves is part of what the
// course teaches, and managed memory would hide both (and its page faults would hide in timings).
// Every type is move-only and frees what it owns in its destructor.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <utility>

#include "dtlab/cuda/check.hpp"

namespace dtlab::cuda {

namespace detail {

struct DeviceMemory {
  static void* allocate(std::size_t bytes) {
    void* p = nullptr;
    DTLAB_CUDA_CHECK(cudaMalloc(&p, bytes));
    return p;
  }
  static cudaError_t release(void* p) { return cudaFree(p); }
};

struct PinnedMemory {
  static void* allocate(std::size_t bytes) {
    void* p = nullptr;
    DTLAB_CUDA_CHECK(cudaMallocHost(&p, bytes));
    return p;
  }
  static cudaError_t release(void* p) { return cudaFreeHost(p); }
};

// n elements of T in Memory's kind of memory; contents uninitialised until written.
template <class T, class Memory>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t n) { resize(n); }
  Buffer(Buffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() {
    if (p_) Memory::release(p_);  // may not throw; an error here shows at the next checked call
  }

  // Reallocates (discarding the contents) when n differs from the current size.
  void resize(std::size_t n) {
    if (n == n_) return;
    if (p_) DTLAB_CUDA_CHECK(Memory::release(p_));
    p_ = nullptr;
    n_ = 0;
    if (n) p_ = static_cast<T*>(Memory::allocate(n * sizeof(T)));
    n_ = n;
  }
  // Grows (discarding the contents) when n exceeds the current size; never shrinks.
  void reserve(std::size_t n) {
    if (n > n_) resize(n);
  }

  T* data() { return p_; }
  const T* data() const { return p_; }
  std::size_t size() const { return n_; }
  std::size_t bytes() const { return n_ * sizeof(T); }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace detail

// Device memory (cudaMalloc).
template <class T>
using DeviceBuffer = detail::Buffer<T, detail::DeviceMemory>;

// Page-locked host memory (cudaMallocHost): what cudaMemcpyAsync needs to be asynchronous, and
// what device data staged for MPI goes through.
template <class T>
using PinnedBuffer = detail::Buffer<T, detail::PinnedMemory>;

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
