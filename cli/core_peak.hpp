// The theoretical peak of one core: its clock times the floating-point operations its vector units
// can start each cycle. Both are measured, not looked up, since neither is in /proc/cpuinfo
// reliably (a VM reports a nominal clock; a Zen 4 runs AVX-512 on 256-bit units, a Zen 5 on 512-bit).
#pragma once

#include <string>

namespace dtlab::cli {

struct CorePeak {
  double ghz = 0;           // the clock under a dependent chain of integer adds (one per cycle)
  int vector_bits = 0;      // widest FMA this CPU has: 512 (AVX-512), 256 (AVX2) or 128
  int flops_per_cycle = 0;  // single precision, a power of two, from independent FMAs' throughput
  double gflops() const { return ghz * flops_per_cycle; }
  std::string describe() const;  // "4.2 GHz x 64 FLOP/cycle (2 x 512-bit FMA) = 269 GFLOP/s"
};

// About 0.5 s of measurement on this thread; zeros where the machine is not x86-64.
CorePeak measure_core_peak();

}  // namespace dtlab::cli
