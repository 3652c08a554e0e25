// dtlab bench on the GPU: the MLP training step (cuBLAS). Allreduce over device buffers is Lab 01's
// benchmark program (labs/01-collectives/programs/bench_allreduce_cuda.cpp).
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

namespace dtlab::cli {

using nlohmann::json;

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
