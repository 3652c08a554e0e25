#include "dtlab/cuda/comm.hpp"

#include <fmt/format.h>
#include <mpi.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "comm_impl.hpp"  // MPI_Comm_split_type needs the MPI communicator
#include "dtlab/baseline.hpp"
#include "dtlab/error.hpp"
#include "dtlab/gpu.hpp"

namespace dtlab::cuda {

Placement place_on_gpu(const Comm& comm) {
  Placement p;
  MPI_Comm local = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split_type(CommAccess::impl(comm).comm, MPI_COMM_TYPE_SHARED, comm.rank(),
                                MPI_INFO_NULL, &local),
            "MPI_Comm_split_type");
  MPI_Comm_rank(local, &p.local_rank);
  MPI_Comm_size(local, &p.local_size);
  // Everything that can fail on one rank is tried first, and every rank learns the outcome before
  // any goes on: a rank that gave up would otherwise leave the others waiting in the next
  // collective (NCCL's initialisation waits for every rank, forever).
  std::string failure;
  std::array<char, 48> uuid{};  // this rank's GPU, "GPU-..." (40 characters)
  try {
    const auto gpus = visible_gpus();  // throws for a driver or runtime that cannot start
    p.gpus = int(gpus.size());
    if (p.gpus == 0) {
      failure = "no CUDA device is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES); --device cuda needs one";
    } else {
      p.device = p.local_rank % p.gpus;
      DTLAB_CUDA_CHECK(cudaSetDevice(p.device));
      DTLAB_CUDA_CHECK(cudaFree(nullptr));  // creates the context now, so that its failure shows here
      std::memcpy(uuid.data(), gpus[std::size_t(p.device)].uuid.c_str(),
                  std::min(uuid.size() - 1, gpus[std::size_t(p.device)].uuid.size()));
    }
  } catch (const Error& e) {
    failure = e.what();
  }
  std::int32_t first_failed[1] = {failure.empty() ? comm.size() : comm.rank()};
  baseline::allreduce(comm, std::span<std::int32_t>(first_failed), ReduceOp::min);
  if (first_failed[0] < comm.size()) {
    MPI_Comm_free(&local);
    throw Error(!failure.empty() ? failure
                                 : fmt::format("rank {} of this job could not start CUDA (its own "
                                               "message says why)",
                                               first_failed[0]));
  }
  // Two ranks of a node share a GPU when their GPUs' UUIDs are equal. Counting ranks against
  // visible devices would be wrong where each rank sees only its own GPU (Slurm's per-task
  // CUDA_VISIBLE_DEVICES: every rank sees one GPU, device 0, and none is shared).
  std::vector<char> all(uuid.size() * std::size_t(p.local_size));
  check_mpi(MPI_Allgather(uuid.data(), int(uuid.size()), MPI_CHAR, all.data(), int(uuid.size()),
                          MPI_CHAR, local),
            "MPI_Allgather");
  MPI_Comm_free(&local);
  std::vector<std::string> uuids;
  for (int r = 0; r < p.local_size; ++r) uuids.emplace_back(all.data() + std::size_t(r) * uuid.size());
  std::sort(uuids.begin(), uuids.end());
  std::int32_t shared[1] = {std::adjacent_find(uuids.begin(), uuids.end()) != uuids.end() ? 1 : 0};
  baseline::allreduce(comm, std::span<std::int32_t>(shared), ReduceOp::max);  // on any node
  p.shared = shared[0] != 0;
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
  // Rank 0 makes the id; the broadcast carries whether it could, so that no rank enters
  // ncclCommInitRank, which waits for all of them, when rank 0 will not come.
  ncclUniqueId id{};
  std::string failure;
  if (comm_.rank() == 0) {
    try {
      DTLAB_NCCL_CHECK(ncclGetUniqueId(&id));
    } catch (const Error& e) {
      failure = e.what();
    }
  }
  std::array<std::uint8_t, sizeof(id) + 1> bytes{};
  std::memcpy(bytes.data(), &id, sizeof(id));
  bytes.back() = failure.empty() ? 1 : 0;
  baseline::broadcast(comm_, std::span<std::uint8_t>(bytes), 0);
  if (bytes.back() == 0)
    throw Error(!failure.empty() ? failure : std::string("rank 0 could not create the NCCL id (its own message says why)"));
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
