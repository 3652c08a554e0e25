#include "core_peak.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace dtlab::cli {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

#if defined(__x86_64__)

// Cycles are counted by a chain of dependent adds: each waits for the one before, and an integer
// add takes one cycle on every x86-64 core, so the chain's length over its time is the clock.
double measure_ghz() {
  constexpr std::int64_t kIterations = 20'000'000, kAddsPerIteration = 16;
  double best = INFINITY;
  for (int trial = 0; trial < 3; ++trial) {
    std::uint64_t x = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; i < kIterations; ++i)
      asm volatile(".rept 16\n\taddq $1, %0\n\t.endr" : "+r"(x));
    best = std::min(best, seconds_since(t0));
  }
  return double(kIterations * kAddsPerIteration) / best * 1e-9;
}

// FLOP per second of independent FMAs: 12 accumulators cover the latency (4-5 cycles) of every
// FMA unit (2 on current x86 cores), so throughput alone limits them.
template <class Vec, int kLanes, class Fma, class Set>
double fma_gflops(Fma fma, Set set) {
  constexpr int kChains = 12;
  constexpr std::int64_t kIterations = 4'000'000;
  Vec acc[kChains];
  for (int j = 0; j < kChains; ++j) acc[j] = set(1.0f + 0.001f * float(j));
  const Vec mul = set(0.9999999f), add = set(1e-7f);
  double best = INFINITY;
  for (int trial = 0; trial < 3; ++trial) {
    const auto t0 = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; i < kIterations; ++i)
      for (int j = 0; j < kChains; ++j) acc[j] = fma(acc[j], mul, add);
    best = std::min(best, seconds_since(t0));
  }
  // Keep the result observable, so that the loop is not removed.
  volatile float sink = 0;
  for (int j = 0; j < kChains; ++j) sink = sink + reinterpret_cast<const float*>(&acc[j])[0];
  return 2.0 * kLanes * kChains * double(kIterations) / best * 1e-9;
}

__attribute__((target("avx512f"))) double avx512_gflops() {
  return fma_gflops<__m512, 16>([](__m512 a, __m512 b, __m512 c) { return _mm512_fmadd_ps(a, b, c); },
                                [](float v) { return _mm512_set1_ps(v); });
}

__attribute__((target("avx2,fma"))) double avx2_gflops() {
  return fma_gflops<__m256, 8>([](__m256 a, __m256 b, __m256 c) { return _mm256_fmadd_ps(a, b, c); },
                               [](float v) { return _mm256_set1_ps(v); });
}

#endif

}  // namespace

std::string CorePeak::describe() const {
  if (flops_per_cycle == 0) return "unknown (not measured on this architecture)";
  const int units = flops_per_cycle / (2 * vector_bits / 32);
  return fmt::format("{:.2f} GHz x {} FLOP/cycle ({} x {}-bit FMA) = {:.0f} GFLOP/s", ghz,
                     flops_per_cycle, units, vector_bits, gflops());
}

CorePeak measure_core_peak() {
  CorePeak p;
#if defined(__x86_64__)
  p.ghz = measure_ghz();
  double rate = 0;
  if (__builtin_cpu_supports("avx512f")) {
    p.vector_bits = 512;
    rate = avx512_gflops();
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    p.vector_bits = 256;
    rate = avx2_gflops();
  } else {
    return p;
  }
  // The measured FLOP/cycle falls a little short of the hardware's (loop overhead, clock jitter):
  // the hardware's is the nearest power of two, at least one FMA unit's worth.
  const double per_cycle = rate / p.ghz;
  p.flops_per_cycle = std::max(2 * p.vector_bits / 32, 1 << int(std::lround(std::log2(per_cycle))));
#endif
  return p;
}

}  // namespace dtlab::cli
