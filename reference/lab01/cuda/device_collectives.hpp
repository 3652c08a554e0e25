// Lab 01's allreduce algorithms on device buffers, for when MPI cannot read GPU memory (Debian's
// Open MPI is not CUDA-aware, and several ranks sharing one GPU rule NCCL out).
//
// The algorithms are the CPU reference's (collectives.cpp), step for step; what changes is where
// the bytes are. Each message leaves the GPU through pinned host memory, crosses MPI, comes back,
// and the local sum `in += received` runs as a CUDA kernel on the device (dtlab::cuda::add)
// instead of lab01::accumulate on the CPU. With a CUDA-aware MPI the staging copies would vanish;
// NCCL goes further and runs the whole ring on the GPU, which `dtlab bench allreduce --device cuda`
// puts side by side.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "lab01/collectives.hpp"

namespace lab01::cuda {

// Every rank ends with the sum of every rank's n floats at data (device memory). Collective.
// The calling thread takes part in every step; work queued on stream before the call is done
// before the data is read, and the result is in place when the call returns.
void allreduce_ring(const Comm& comm, float* data, std::size_t n, cudaStream_t stream);
// Recursive doubling for a power-of-two number of ranks; other counts use the ring.
void allreduce_recursive_doubling(const Comm& comm, float* data, std::size_t n, cudaStream_t stream);
// The algorithm lab01::choose_allreduce picks for this size and rank count (Rabenseifner's
// choice runs as the ring here).
void allreduce(const Comm& comm, float* data, std::size_t n, cudaStream_t stream);

}  // namespace lab01::cuda
