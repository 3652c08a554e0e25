// The inputs and expected results of Lab 01's checks, shared by the tests and the benchmark
// program, so that both judge a result by the same oracle.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace lab01::oracle {

// Rank r's element i: 2i' + 1 - 4r, where i' = i mod 2^19. Every value is odd, so never zero: a
// missing or doubled contribution always changes the result. Ranks differ at every element (by 4
// per rank), and the sum over p ranks, p(2i' + 1) - 2p(p - 1), differs between any two elements
// closer than 2^19 (2 MiB of floats; the tests' buffers are all shorter): a block or element in
// the wrong place, or one rank's data taken for another's, is always visible. Negative values
// occur (small i, large r). Every partial sum of up to 16 ranks stays under 2^24 in magnitude, so
// float sums of these integers are exact in any order and results can be compared with ==.
template <class T>
T value(int r, std::size_t i) {
  constexpr std::int64_t kPeriod = std::int64_t(1) << 19;
  return T(2 * (std::int64_t(i) % kPeriod) + 1 - 4 * std::int64_t(r));
}

template <class T>
std::vector<T> input(int r, std::size_t n) {
  std::vector<T> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = value<T>(r, i);
  return v;
}

template <class T>
T expected_sum(int p, std::size_t i) {
  T s = 0;
  for (int r = 0; r < p; ++r) s += value<T>(r, i);
  return s;
}

}  // namespace lab01::oracle
