// The library collectives against a serial computation: every rank can compute what every other
// rank contributes, so each checks the whole result itself.
#include <gtest/gtest.h>

#include <algorithm>

#include "dtlab/baseline.hpp"
#include "dtlab/comm.hpp"

namespace dtlab {
namespace {

// Rank r's i-th element: small integers, so float sums are exact.
double contribution(int r, std::size_t i) { return double((r + 1) * int(i % 13) - 5 * r); }

TEST(Baseline, AllreduceSumMaxMinEqualSerial) {
  const Comm c = Comm::world();
  const int p = c.size();
  for (const std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(p - 1), std::size_t(1000)}) {
    for (const ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
      std::vector<float> f(n);
      std::vector<double> d(n);
      std::vector<std::int64_t> k(n);
      for (std::size_t i = 0; i < n; ++i) {
        f[i] = float(contribution(c.rank(), i));
        d[i] = contribution(c.rank(), i);
        k[i] = std::int64_t(contribution(c.rank(), i));
      }
      baseline::allreduce(c, std::span<float>(f), op);
      baseline::allreduce(c, std::span<double>(d), op);
      baseline::allreduce(c, std::span<std::int64_t>(k), op);
      for (std::size_t i = 0; i < n; ++i) {
        double want = contribution(0, i);
        for (int r = 1; r < p; ++r) {
          const double v = contribution(r, i);
          want = op == ReduceOp::sum ? want + v : op == ReduceOp::max ? std::max(want, v) : std::min(want, v);
        }
        ASSERT_EQ(f[i], float(want)) << "n=" << n << " i=" << i;
        ASSERT_EQ(d[i], want);
        ASSERT_EQ(k[i], std::int64_t(want));
      }
    }
  }
}

TEST(Baseline, BroadcastAndReduceFromEveryRoot) {
  const Comm c = Comm::world();
  const int p = c.size();
  for (int root = 0; root < p; ++root) {
    std::vector<double> v(17, double(c.rank()));
    baseline::broadcast(c, std::span<double>(v), root);
    for (double x : v) EXPECT_EQ(x, root);
    std::vector<double> s(5, double(c.rank() + 1));
    baseline::reduce(c, std::span<double>(s), root);
    if (c.rank() == root)
      for (double x : s) EXPECT_EQ(x, p * (p + 1) / 2.0);
  }
}

TEST(Baseline, AllgatherAndReduceScatter) {
  const Comm c = Comm::world();
  const int p = c.size();
  const std::vector<std::int32_t> mine{c.rank(), 10 * c.rank()};
  std::vector<std::int32_t> all(2 * p);
  baseline::allgather(c, std::span<const std::int32_t>(mine), std::span<std::int32_t>(all));
  for (int r = 0; r < p; ++r) {
    EXPECT_EQ(all[2 * r], r);
    EXPECT_EQ(all[2 * r + 1], 10 * r);
  }
  std::vector<float> send(3 * p);
  for (std::size_t i = 0; i < send.size(); ++i) send[i] = float(i + c.rank());
  std::vector<float> out(3);
  baseline::reduce_scatter(c, std::span<const float>(send), std::span<float>(out));
  for (int j = 0; j < 3; ++j) {
    const int i = 3 * c.rank() + j;
    EXPECT_EQ(out[j], float(p * i + p * (p - 1) / 2));
  }
  std::vector<std::int32_t> wrong(2 * p + 1);
  EXPECT_THROW(baseline::allgather(c, std::span<const std::int32_t>(mine), std::span<std::int32_t>(wrong)), Error);
}

TEST(Baseline, NonBlockingAllreduceAndItsLogEntry) {
  const Comm c = Comm::world();
  OpLog::instance().set_enabled(true);
  OpLog::instance().clear();
  std::vector<float> v(100, 1.0f);
  Request r = baseline::iallreduce(c, std::span<float>(v));
  c.wait(r);
  for (float x : v) EXPECT_EQ(x, float(c.size()));
  const auto& log = OpLog::instance().data();
  ASSERT_EQ(log.ops.size(), 2u);
  EXPECT_EQ(log.ops[0].kind, OpKind::collective);
  EXPECT_EQ(log.label(log.ops[0]), "allreduce");
  EXPECT_EQ(log.ops[0].bytes, 400u);
  EXPECT_GE(log.ops[0].request, 0);
  EXPECT_EQ(log.ops[1].kind, OpKind::wait);
  EXPECT_EQ(OpLog::instance().counters().collectives, 1u);
}

}  // namespace
}  // namespace dtlab
