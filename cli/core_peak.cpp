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
// FMA unit (2 on current x86 cores), so throughput alone limits them. A macro rather than a
// template: the intrinsics must be inlined into a function compiled for their instruction set,
// and GCC gives that target to the function it is written in only.
#define DTLAB_FMA_GFLOPS(NAME, TARGET, VEC, LANES, FMADD, SET1)                          \
  __attribute__((target(TARGET))) double NAME() {                                      \
    constexpr int kChains = 12;                                                        \
    constexpr std::int64_t kIterations = 4'000'000;                                    \
    VEC acc[kChains];                                                                  \
    for (int j = 0; j < kChains; ++j) acc[j] = SET1(1.0f + 0.001f * float(j));         \
    const VEC mul = SET1(0.9999999f), add = SET1(1e-7f);                               \
    double best = INFINITY;                                                            \
    for (int trial = 0; trial < 3; ++trial) {                                          \
      const auto t0 = std::chrono::steady_clock::now();                                \
      for (std::int64_t i = 0; i < kIterations; ++i)                                   \
        for (int j = 0; j < kChains; ++j) acc[j] = FMADD(acc[j], mul, add);            \
      best = std::min(best, seconds_since(t0));                                        \
    }                                                                                  \
    volatile float sink = 0; /* keeps the loop from being removed */                   \
    for (int j = 0; j < kChains; ++j) sink = sink + reinterpret_cast<const float*>(&acc[j])[0]; \
    return 2.0 * LANES * kChains * double(kIterations) / best * 1e-9;                  \
  }

DTLAB_FMA_GFLOPS(avx512_gflops, "avx512f", __m512, 16, _mm512_fmadd_ps, _mm512_set1_ps)
DTLAB_FMA_GFLOPS(avx2_gflops, "avx2,fma", __m256, 8, _mm256_fmadd_ps, _mm256_set1_ps)

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
