#include "dtlab/cuda/comm.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "comm_impl.hpp"  // MPI_Comm_split_type needs the MPI communicator
#include "dtlab/baseline.hpp"
#include "dtlab/error.hpp"

namespace dtlab::cuda {

Placement place_on_gpu(const Comm& comm) {
  Placement p;
  MPI_Comm local = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(CommAccess::impl(comm).comm, MPI_COMM_TYPE_SHARED, comm.rank(),
                                MPI_INFO_NULL, &local),
            "MPI_Comm_split_type");
  MPI_Comm_rank(local, &p.local_rank);
  MPI_Comm_size(local, &p.local_size);
  MPI_Comm_free(&local);
  if (cudaGetDeviceCount(&p.gpus) != cudaSuccess) {
    cudaGetLastError();
    p.gpus = 0;
  }
  // Every rank must learn whether any rank failed, or the others would hang in the next collective.
  std::array<std::int32_t, 2> flags{p.gpus == 0 ? 1 : 0, p.local_size > p.gpus ? 1 : 0};
  baseline::allreduce(comm, std::span<std::int32_t>(flags), ReduceOp::max);
  if (flags[0])
    throw Error(p.gpus == 0 ? std::string("no CUDA device is visible (check nvidia-smi and "
                                          "CUDA_VISIBLE_DEVICES); --device cuda needs one")
                            : std::string("another rank of this job sees no CUDA device"));
  p.shared = flags[1] != 0;
  p.device = p.local_rank % p.gpus;
  DTLAB_CUDA_CHECK(cudaSetDevice(p.device));
  return p;
}

const char* to_string(Backend b) {
  switch (b) {
    case Backend::automatic: return "auto";
    case Backend::nccl: return "nccl";
    case Backend::staged: return "staged";
  }
  return "?";
}

Backend parse_backend(const std::string& name) {
  if (name == "auto") return Backend::automatic;
  if (name == "nccl") return Backend::nccl;
  if (name == "staged") return Backend::staged;
  throw Error(fmt::format("unknown device communication backend '{}'; expected auto, nccl or staged", name));
}

DeviceComm::DeviceComm(const Comm& comm, const Placement& placement, Backend backend)
    : comm_(comm.split(0, comm.rank())), backend_(backend) {
  if (backend_ == Backend::automatic) backend_ = placement.shared ? Backend::staged : Backend::nccl;
  if (backend_ == Backend::nccl && placement.shared)
    throw Error(fmt::format("NCCL needs one GPU per rank, but {} ranks share {} GPU(s) on a node; "
                            "use fewer ranks per node or --comm staged",
                            placement.local_size, placement.gpus));
  if (backend_ != Backend::nccl) return;
  ncclUniqueId id{};
  if (comm_.rank() == 0) DTLAB_NCCL_CHECK(ncclGetUniqueId(&id));
  std::array<std::uint8_t, sizeof(id)> bytes{};
  std::memcpy(bytes.data(), &id, sizeof(id));
  baseline::broadcast(comm_, std::span<std::uint8_t>(bytes), 0);
  std::memcpy(&id, bytes.data(), sizeof(id));
  DTLAB_NCCL_CHECK(ncclCommInitRank(&nccl_, comm_.size(), id, comm_.rank()));
}

DeviceComm::~DeviceComm() {
  if (nccl_) ncclCommDestroy(nccl_);
}

namespace {
// Chunks of the staged path: big enough that MPI runs near link speed, small enough that the
// copy of the next chunk overlaps the reduction of this one.
constexpr std::size_t kChunk = std::size_t(1) << 20;  // floats: 4 MiB
}  // namespace

void DeviceComm::allreduce(float* data, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  if (backend_ == Backend::nccl) {
    DTLAB_NCCL_CHECK(ncclAllReduce(data, data, n, ncclFloat, ncclSum, nccl_, stream));
    return;
  }
  staging_.reserve(n);
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  while (chunk_done_.size() < chunks) chunk_done_.emplace_back();
  // All device-to-host copies are queued at once; the GPU runs them while MPI reduces.
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t first = c * kChunk, len = std::min(kChunk, n - first);
    copy_to_host(staging_.data() + first, data + first, len, stream);
    chunk_done_[c].record(stream);
  }
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::size_t first = c * kChunk, len = std::min(kChunk, n - first);
    chunk_done_[c].synchronize();
    baseline::allreduce(comm_, std::span<float>(staging_.data() + first, len));
    copy_to_device(data + first, staging_.data() + first, len, stream);
  }
  // The pinned buffer is reused by the next call: its copies back must be done first.
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void DeviceComm::broadcast(float* data, std::size_t n, int root, cudaStream_t stream) {
  if (n == 0) return;
  if (backend_ == Backend::nccl) {
    DTLAB_NCCL_CHECK(ncclBroadcast(data, data, n, ncclFloat, root, nccl_, stream));
    return;
  }
  staging_.reserve(n);
  if (comm_.rank() == root) copy_to_host(staging_.data(), data, n, stream);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream));
  baseline::broadcast(comm_, std::span<float>(staging_.data(), n), root);
  if (comm_.rank() != root) copy_to_device(data, staging_.data(), n, stream);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace dtlab::cuda
