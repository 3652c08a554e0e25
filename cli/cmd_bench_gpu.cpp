// dtlab bench on the GPU: allreduce over device buffers (NCCL, MPI staged through pinned memory,
// Lab 01's algorithms with a CUDA reduction kernel) and the MLP training step (cuBLAS).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "bench_gpu.hpp"
#include "commands.hpp"
#include "dtlab/baseline.hpp"
#include "dtlab/cuda/comm.hpp"
#include "dtlab/cuda/kernels.hpp"
#include "dtlab/cuda/mlp.hpp"
#include "dtlab/cuda/optim.hpp"
#include "dtlab/error.hpp"
#include "dtlab/gpu.hpp"
#include "dtlab/rng.hpp"
#include "dtlab/train.hpp"
#include "lab01/cuda/device_collectives.hpp"

namespace dtlab::cli {

using nlohmann::json;

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

namespace {

// cuBLAS SGEMM n x n x n on this GPU, FLOP/s: the ceiling the MLP's GEMMs are measured against.
// On random values, not zeros: a GPU draws less power on zeros and may hold a higher clock.
double sgemm_flops(cuda::Blas& blas, cuda::Stream& s, int n) {
  cuda::DeviceBuffer<float> a(std::size_t(n) * n), b(std::size_t(n) * n), c(std::size_t(n) * n);
  {
    Rng rng(11);
    std::vector<float> host(a.size());
    for (auto& v : host) v = float(rng.uniform(-1, 1));
    cuda::copy_to_device(a.data(), host.data(), host.size(), s);
    cuda::copy_to_device(b.data(), host.data(), host.size(), s);
    s.synchronize();  // host is freed at the end of this block
  }
  const float one = 1, zero = 0;
  auto gemm = [&] {
    DTLAB_CUBLAS_CHECK(cublasSgemm(blas.get(), CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, &one, a.data(), n,
                                   b.data(), n, &zero, c.data(), n));
  };
  for (int i = 0; i < 3; ++i) gemm();
  cuda::Event t0(true), t1(true);
  constexpr int kIters = 20;
  t0.record(s);
  for (int i = 0; i < kIters; ++i) gemm();
  t1.record(s);
  t1.synchronize();
  return 2.0 * n * n * n * kIters / (cuda::Event::elapsed_ms(t0, t1) * 1e-3);
}

}  // namespace

int run_gpu_train_step(const Comm& world, const std::vector<int>& hidden, int batch, bool tf32,
                       const std::string& json_path) {
  const cuda::Placement place = cuda::place_on_gpu(world);
  Mlp host(MlpConfig{784, hidden, 10});
  host.init(1);
  cuda::Stream s;
  cuda::GpuMlp model(host, s, tf32);
  // The optimizer `dtlab train` uses, as bench/pytorch_mlp_gpu.py does (Nesterov, weight decay).
  cuda::GpuOptimizer opt(TrainConfig{}.optimizer, model.num_params());
  Rng rng(7 + std::uint64_t(world.rank()));
  std::vector<float> x(std::size_t(batch) * 784);
  std::vector<std::int32_t> y(static_cast<std::size_t>(batch));
  for (auto& v : x) v = float(rng.normal());
  for (auto& v : y) v = std::int32_t(rng.below(10));
  cuda::DeviceBuffer<float> dx(x.size());
  cuda::DeviceBuffer<std::int32_t> dy(y.size());
  cuda::copy_to_device(dx.data(), x.data(), x.size(), s);
  cuda::copy_to_device(dy.data(), y.data(), y.size(), s);
  auto step = [&] {
    model.forward_backward(dx.data(), dy.data(), batch);
    opt.step(model.params(), model.grads(), 1e-3, 1.0f, s);
  };
  for (int i = 0; i < 10; ++i) step();
  s.synchronize();
  // Queue-and-time with events: the GPU's time per step, with the host launching ahead of it
  // as it does in training (no synchronisation between steps).
  cuda::Event t0(true), t1(true);
  double best = INFINITY;
  for (int trial = 0; trial < 5; ++trial) {
    constexpr int kIters = 200;
    t0.record(s);
    for (int i = 0; i < kIters; ++i) step();
    t1.record(s);
    t1.synchronize();
    best = std::min(best, cuda::Event::elapsed_ms(t0, t1) * 1e-3 / kIters);
  }
  cuda::Blas blas(s, tf32);
  const double flops = host.train_flops() * batch;
  double rates[2] = {flops / best, sgemm_flops(blas, s, 4096)};
  baseline::allreduce(world, std::span<double>(rates), ReduceOp::min);
  if (world.rank() != 0) return 0;
  const auto gpus = visible_gpus();
  const std::string gpu = gpus.empty() ? "?" : gpus[std::size_t(place.device)].name;
  std::printf("# dtlab bench train-step --device cuda: MLP %s, batch %d, forward + backward + SGD "
              "step, %s GEMMs, on %s (%d rank%s at once, slowest shown)\n",
              host.config().describe().c_str(), batch, tf32 ? "TF32" : "FP32", gpu.c_str(),
              world.size(), world.size() > 1 ? "s" : "");
  std::printf("step time        %10.3f ms  (%.0f samples/s per rank)\n", best * 1e3, batch / best);
  std::printf("MLP step         %10.2f TFLOP/s  (%.1f MFLOP per step)\n", rates[0] * 1e-12, flops * 1e-6);
  std::printf("SGEMM 4096^3     %10.2f TFLOP/s  (cuBLAS, this GPU)\n", rates[1] * 1e-12);
  std::printf("MLP / SGEMM      %10.1f %%\n", 100 * rates[0] / rates[1]);
  if (!json_path.empty())
    write_json_file(json_path, json{{"benchmark", "train-step"},
                                    {"device", "cuda"},
                                    {"gpu", gpu},
                                    {"tf32", tf32},
                                    {"model", host.config().describe()},
                                    {"batch", batch},
                                    {"ranks", world.size()},
                                    {"step_ms", best * 1e3},
                                    {"samples_per_sec", batch / best},
                                    {"mlp_tflops", rates[0] * 1e-12},
                                    {"sgemm_tflops", rates[1] * 1e-12},
                                    {"ratio", rates[0] / rates[1]}}
                                   .dump(2));
  return 0;
}

}  // namespace dtlab::cli
