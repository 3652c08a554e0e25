// Helpers shared by Lab 01's public and hidden tests. Test code may use the library collectives
// (it is not a submission); the implementations under test may not.
#pragma once

#include <gtest/gtest.h>

#include "lab_test.hpp"

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "dtlab/baseline.hpp"
#include "lab01/collectives.hpp"
#include "lab01_oracle.hpp"

namespace lab01::test {

using dtlab::Comm;

using dtlab::labtest::for_each_size;
using dtlab::labtest::guarded;

// The sizes a test runs for p ranks: empty, one element, fewer than p, exactly p, one more,
// not divisible by p, and (large) a few hundred thousand.
inline std::vector<std::size_t> sizes(int p, bool large = false) {
  std::vector<std::size_t> s{0, 1, std::size_t(p > 1 ? p - 1 : 1), std::size_t(p), std::size_t(p) + 1,
                             std::size_t(1000 * p + 3)};
  if (large) s.push_back((std::size_t(1) << 18) + 7);
  return s;
}

using oracle::expected_sum;
using oracle::input;
using oracle::value;

// Checks data[first, first + count) against the serial sum over p ranks. Reports the number of
// wrong elements and the first one, instead of one failure per element.
template <class T>
testing::AssertionResult is_sum(std::span<const T> data, int p, std::size_t first, std::size_t count) {
  std::size_t wrong = 0, at = 0;
  for (std::size_t i = first; i < first + count; ++i)
    if (data[i] != expected_sum<T>(p, i) && wrong++ == 0) at = i;
  if (wrong == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure() << wrong << " of " << count << " elements are not the sum over "
                                     << p << " ranks; the first is element " << at << ": got "
                                     << +data[at] << ", expected " << +expected_sum<T>(p, at);
}

template <class T>
testing::AssertionResult is_sum(std::span<const T> data, int p) {
  return is_sum(data, p, 0, data.size());
}

// Every rank of comm holds the same bits.
template <class T>
testing::AssertionResult identical_on_all_ranks(const Comm& comm, std::span<const T> data) {
  std::uint64_t h = 1469598103934665603ull;
  const auto* b = reinterpret_cast<const unsigned char*>(data.data());
  for (std::size_t i = 0; i < data.size_bytes(); ++i) h = (h ^ b[i]) * 1099511628211ull;
  std::vector<std::int64_t> all(std::size_t(comm.size()));
  const std::vector<std::int64_t> mine{std::int64_t(h)};
  dtlab::baseline::allgather(comm, std::span<const std::int64_t>(mine), std::span<std::int64_t>(all));
  for (int r = 0; r < comm.size(); ++r)
    if (all[r] != all[0]) return testing::AssertionFailure() << "rank " << r << " holds different bits from rank 0";
  return testing::AssertionSuccess();
}

// What one call sent, from the op log: messages and bytes of this rank.
struct Traffic {
  std::uint64_t messages = 0;
  std::uint64_t bytes = 0;
};

template <class F>
Traffic traffic_of(F&& call) {
  auto& log = dtlab::OpLog::instance();
  const auto before = log.counters();
  call();
  const auto after = log.counters();
  return {after.messages_sent - before.messages_sent, after.bytes_sent - before.bytes_sent};
}

// An allreduce under test, by name, for typed test bodies.
template <class T>
using AllreduceFn = void (*)(const Comm&, std::span<T>);

}  // namespace lab01::test
