#include "device_collectives.hpp"

#include <algorithm>

#include "dtlab/cuda/kernels.hpp"
#include "dtlab/cuda/memory.hpp"

namespace lab01::cuda {

namespace {

using dtlab::cuda::DeviceBuffer;
using dtlab::cuda::PinnedBuffer;

enum Tag : int { kDoubling = 31, kRing };

// Staging memory, grown once and reused, kept with the communicator (Comm::cached) as the CPU
// reference keeps its temporary data in Comm::scratch.
struct Staging {
  PinnedBuffer<float> send, recv;
  DeviceBuffer<float> tmp;
  void reserve(std::size_t n) {
    send.reserve(n);
    recv.reserve(n);
    tmp.reserve(n);
  }
};

// Sends n_out floats at device address out to `to` and receives n_in floats from `from`; with add,
// in += received (on the GPU), else in = received. Returns once in holds the result.
void exchange(const Comm& comm, const float* out, std::size_t n_out, int to, float* in,
              std::size_t n_in, int from, int tag, bool add, cudaStream_t stream) {
  Staging& s = comm.cached<Staging>();
  s.reserve(std::max(n_out, n_in));
  dtlab::cuda::copy_to_host(s.send.data(), out, n_out, stream);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream));  // also: the last call's copy from s.recv is done
  comm.sendrecv(std::span<const float>(s.send.data(), n_out), to,
                std::span<float>(s.recv.data(), n_in), from, tag);
  if (add) {
    dtlab::cuda::copy_to_device(s.tmp.data(), s.recv.data(), n_in, stream);
    dtlab::cuda::add(in, s.tmp.data(), n_in, stream);
  } else {
    dtlab::cuda::copy_to_device(in, s.recv.data(), n_in, stream);
  }
}

float* at(float* data, std::size_t n, int p, int r) { return data + block(n, p, r).first; }
std::size_t len(std::size_t n, int p, int r) { return std::size_t(block(n, p, r).count); }

}  // namespace

void allreduce_ring(const Comm& comm, float* data, std::size_t n, cudaStream_t stream) {
  const int p = comm.size(), r = comm.rank();
  const int right = (r + 1) % p, left = (r + p - 1) % p;
  // Reduce-scatter: step s passes block r-s-1 on and adds the arriving block r-s-2 into mine.
  for (int s = 0; s < p - 1; ++s) {
    const int out = (r - s - 1 + 2 * p) % p, in = (r - s - 2 + 2 * p) % p;
    exchange(comm, at(data, n, p, out), len(n, p, out), right, at(data, n, p, in), len(n, p, in),
             left, kRing, true, stream);
  }
  // Allgather: pass on the block received last, receive the next into its place.
  for (int s = 0; s < p - 1; ++s) {
    const int out = (r - s + p) % p, in = (r - s - 1 + p) % p;
    exchange(comm, at(data, n, p, out), len(n, p, out), right, at(data, n, p, in), len(n, p, in),
             left, kRing, false, stream);
  }
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void allreduce_recursive_doubling(const Comm& comm, float* data, std::size_t n, cudaStream_t stream) {
  const int p = comm.size();
  if ((p & (p - 1)) != 0) return allreduce_ring(comm, data, n, stream);
  for (int mask = 1; mask < p; mask <<= 1) {
    const int partner = comm.rank() ^ mask;
    exchange(comm, data, n, partner, data, n, partner, kDoubling, true, stream);
  }
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void allreduce(const Comm& comm, float* data, std::size_t n, cudaStream_t stream) {
  if (choose_allreduce(n * sizeof(float), comm.size()) == Algorithm::recursive_doubling)
    allreduce_recursive_doubling(comm, data, n, stream);
  else
    allreduce_ring(comm, data, n, stream);
}

}  // namespace lab01::cuda
