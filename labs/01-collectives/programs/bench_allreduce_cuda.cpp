// Lab 01's allreduce benchmark on device buffers: NCCL, MPI staged through pinned memory, and the
// reference's Lab 01 algorithms with a CUDA reduction kernel (reference/lab01/cuda).
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "bench_allreduce.hpp"
#include "dtlab/cuda/comm.hpp"
#include "dtlab/cuda/memory.hpp"
#include "dtlab/error.hpp"
#include "dtlab/gpu.hpp"
#include "lab01/cuda/device_collectives.hpp"

using namespace dtlab;

AllreduceTarget device_allreduce_target(const Comm& world, std::vector<std::string> algos,
                                        std::size_t max_count) {
  const cuda::Placement place = cuda::place_on_gpu(world);
  if (algos.empty()) {  // NCCL cannot run two ranks on one GPU: leave it out rather than fail
    if (!place.shared) algos.push_back("nccl");
    algos.insert(algos.end(), {"staged", "lab01"});
  }
  // Both backends where they can exist: NCCL only when no two ranks share a GPU.
  struct State {
    cuda::Stream stream;
    cuda::DeviceBuffer<float> buf;
    std::unique_ptr<cuda::DeviceComm> nccl, staged;
  };
  auto st = std::make_shared<State>();
  st->buf.resize(std::max<std::size_t>(max_count, 1));
  const bool want_nccl = std::find(algos.begin(), algos.end(), "nccl") != algos.end();
  if (want_nccl && place.shared)
    throw Error(fmt::format("--algo nccl: NCCL needs one GPU per rank, but {} ranks share {} GPU(s) "
                            "on a node; drop nccl or use fewer ranks", place.local_size, place.gpus));
  if (want_nccl) st->nccl = std::make_unique<cuda::DeviceComm>(world, place, cuda::Backend::nccl);
  st->staged = std::make_unique<cuda::DeviceComm>(world, place, cuda::Backend::staged);

  AllreduceTarget t;
  t.algos = algos;
  const auto gpus = visible_gpus();
  t.note = fmt::format("# GPU {} ({}), {} rank(s) per GPU on the node; nccl: NCCL {}.{}.{}; staged: "
                       "MPI_Allreduce through pinned host memory; lab01*: Lab 01's reference, staged, "
                       "CUDA reduction kernel",
                       place.device, gpus.empty() ? "?" : gpus[std::size_t(place.device)].name,
                       (place.local_size + place.gpus - 1) / place.gpus, NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH);
  t.load = [st](std::span<const float> v) {
    cuda::copy_to_device(st->buf.data(), v.data(), v.size(), st->stream);
    st->stream.synchronize();
  };
  t.store = [st](std::span<float> out) {
    cuda::copy_to_host(out.data(), st->buf.data(), out.size(), st->stream);
    st->stream.synchronize();
  };
  for (const auto& a : algos) {
    std::function<void(std::size_t)> f;
    if (a == "nccl") f = [st](std::size_t n) { st->nccl->allreduce(st->buf.data(), n, st->stream); };
    else if (a == "staged") f = [st](std::size_t n) { st->staged->allreduce(st->buf.data(), n, st->stream); };
    else if (a == "lab01-ring")
      f = [st](std::size_t n) { lab01::cuda::allreduce_ring(st->staged->comm(), st->buf.data(), n, st->stream); };
    else if (a == "lab01-rd")
      f = [st](std::size_t n) {
        lab01::cuda::allreduce_recursive_doubling(st->staged->comm(), st->buf.data(), n, st->stream);
      };
    else if (a == "lab01")
      f = [st](std::size_t n) { lab01::cuda::allreduce(st->staged->comm(), st->buf.data(), n, st->stream); };
    else
      throw Error(fmt::format("unknown device algorithm '{}'; expected nccl, staged, lab01-ring, "
                              "lab01-rd or lab01", a));
    // Each call returns once the result is in place, as the host algorithms do.
    t.run.push_back([st, f](std::size_t n) {
      f(n);
      st->stream.synchronize();
    });
  }
  return t;
}

