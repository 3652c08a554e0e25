// Communication on device buffers.
//
// Two backends, picked per job:
//   nccl    one GPU per rank (a multi-GPU machine, or a cluster): an NCCL communicator
//           bootstrapped through MPI, as llm.c and PyTorch do: rank 0 makes the unique id, MPI
//           broadcasts it, every rank joins. Collectives are queued on a CUDA stream; the host
//           never waits for them.
//   staged  several ranks share a GPU (NCCL refuses that): device data is copied to pinned host
//           memory, reduced with MPI, and copied back, in chunks so that the copies of one chunk
//           overlap MPI's work on the previous one. The calling thread takes part, so it waits.
#pragma once

#include <cuda_runtime.h>
#include <nccl.h>

#include <cstddef>
#include <vector>

#include "dtlab/comm.hpp"
#include "dtlab/cuda/memory.hpp"

namespace dtlab::cuda {

// Where this rank runs: its GPU is local_rank % gpus, local ranks being those on its node.
struct Placement {
  int device = 0;
  int local_rank = 0;
  int local_size = 1;
  int gpus = 0;         // visible to this rank
  bool shared = false;  // on some node of the job, two ranks share a GPU
};

// Collective over comm: finds each rank's node-local rank (MPI_Comm_split_type), picks its GPU and
// makes it current (cudaSetDevice). Throws dtlab::Error on a rank that sees no GPU.
Placement place_on_gpu(const Comm& comm);

enum class Backend { automatic, nccl, staged };
const char* to_string(Backend b);
Backend parse_backend(const std::string& name);  // "auto" | "nccl" | "staged"; throws otherwise

class DeviceComm {
 public:
  // Collective over comm. automatic picks nccl unless placement.shared; asking for nccl when
  // ranks share a GPU throws. The communicator is a duplicate of comm: its traffic never matches
  // the program's.
  DeviceComm(const Comm& comm, const Placement& placement, Backend backend = Backend::automatic);
  virtual ~DeviceComm();
  DeviceComm(const DeviceComm&) = delete;
  DeviceComm& operator=(const DeviceComm&) = delete;

  Backend backend() const { return backend_; }
  const Comm& comm() const { return comm_; }
  int rank() const { return comm_.rank(); }
  // Virtual, with allreduce, for one test only (tests/cuda/test_cuda_mpi.cpp, SlowTwinComm): on a
  // machine with one GPU it stands in for a second rank, so that the ordering of NCCL work on
  // streams, which a real 1-rank allreduce (the identity) cannot show, is tested there too.
  virtual int size() const { return comm_.size(); }

  // In place: data (n floats on the device) ends as the sum over the ranks. Ordered after the
  // work already on stream, and the work queued on stream after it sees the result.
  virtual void allreduce(float* data, std::size_t n, cudaStream_t stream);
  // root's n floats end up on every rank; ordered on stream like allreduce.
  void broadcast(float* data, std::size_t n, int root, cudaStream_t stream);

 private:
  Comm comm_;
  Backend backend_;
  ncclComm_t nccl_ = nullptr;
  PinnedBuffer<float> staging_;
  std::vector<Event> chunk_done_;
};

}  // namespace dtlab::cuda
