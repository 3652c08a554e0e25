// Micro-benchmarks of the core's hot paths (Google Benchmark). The end-to-end numbers live in
// `dtlab bench`; these show where a training step's time goes:
//   build/bin/dtlab_bench_core --benchmark_filter=Mlp
#include <benchmark/benchmark.h>

#include <Eigen/Core>

#include "dtlab/aligned.hpp"
#include "dtlab/data.hpp"
#include "dtlab/layers.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/optim.hpp"
#include "dtlab/rng.hpp"

namespace {

using namespace dtlab;

AlignedVector<float> random(std::size_t n, std::uint64_t seed) {
  Rng r(seed);
  AlignedVector<float> v(n);
  for (auto& x : v) x = float(r.normal());
  return v;
}

// One Linear layer forward (batch x in) * (out x in)^T at the MLP's shapes.
void BM_LinearForward(benchmark::State& s) {
  const int batch = int(s.range(0)), in = int(s.range(1)), out = int(s.range(2));
  auto x = random(std::size_t(batch) * in, 1), w = random(std::size_t(out) * in, 2), b = random(out, 3);
  AlignedVector<float> y(std::size_t(batch) * out);
  for (auto _ : s)
    linear_forward(ConstMatMap(x.data(), batch, in), ConstMatMap(w.data(), out, in),
                   ConstVecMap(b.data(), out), MatMap(y.data(), batch, out));
  s.counters["GFLOP/s"] = benchmark::Counter(2.0 * batch * in * out, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_LinearForward)->Args({256, 784, 512})->Args({256, 512, 256})->Args({256, 256, 10});

void BM_MlpStep(benchmark::State& s) {
  const int batch = int(s.range(0));
  Mlp m(MlpConfig{784, {512, 256}, 10});
  m.init(1);
  auto x = random(std::size_t(batch) * 784, 4);
  std::vector<std::int32_t> y(static_cast<std::size_t>(batch));
  Rng r(5);
  for (auto& v : y) v = std::int32_t(r.below(10));
  for (auto _ : s) benchmark::DoNotOptimize(m.forward_backward(x, y));
  s.counters["GFLOP/s"] = benchmark::Counter(m.train_flops() * batch, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_MlpStep)->Arg(128)->Arg(256)->Arg(512)->Unit(benchmark::kMillisecond);

// The optimizer touches every parameter, gradient and state value once: memory-bound.
void BM_SgdStep(benchmark::State& s) {
  const std::size_t n = 535818;  // parameters of 784-512-256-10
  auto p = random(n, 6), g = random(n, 7);
  auto opt = make_optimizer({.name = "sgd", .momentum = 0.9, .nesterov = true, .weight_decay = 5e-4}, n);
  for (auto _ : s) opt->step(p, g, 1e-3, 0.5f);
  s.counters["GB/s"] = benchmark::Counter(5.0 * 4 * n, benchmark::Counter::kIsIterationInvariantRate, benchmark::Counter::kIs1000);
}
BENCHMARK(BM_SgdStep)->Unit(benchmark::kMicrosecond);

// Turning a batch of byte images into normalised floats.
void BM_Gather(benchmark::State& s) {
  const DataSplit d = make_synthetic({.train = 60000, .test = 1, .features = 784, .seed = 1});
  DistributedSampler sampler(d.train.size, 256, 0, 1, 1);
  AlignedVector<float> xb(256 * 784);
  std::vector<std::int32_t> yb(256);
  std::int64_t b = 0;
  for (auto _ : s) {
    d.train.gather(sampler.indices(0, b), xb, yb);
    b = (b + 1) % sampler.batches_per_epoch();
  }
}
BENCHMARK(BM_Gather)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
