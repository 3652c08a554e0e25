// Lab 04 hidden tests: the public tests' oracles on shapes the public tests do not try (servers
// with no keys, messages too large to go eagerly, more workers, a worker dead before its first
// pull, other bounds).
#include <gtest/gtest.h>

#include "lab04_test.hpp"

namespace lab04 {
namespace {

using namespace lab04::test;

TEST(HiddenKeyRanges, ManyServersAndLargeVectors) {
  for (std::size_t n : {std::size_t(5), std::size_t(63), std::size_t(1) << 20, (std::size_t(1) << 20) + 63})
    for (int servers : {1, 2, 5, 16, 63, 64}) {
      std::size_t next = 0, smallest = SIZE_MAX, largest = 0;
      for (int s = 0; s < servers; ++s) {
        const KeyRange r = key_range(n, servers, s);
        ASSERT_EQ(r.begin, next) << "n=" << n << " servers=" << servers << " s=" << s;
        if (s > 0) {
          EXPECT_LE(r.size(), largest) << "larger ranges come first";
        }
        smallest = std::min(smallest, r.size());
        largest = std::max(largest, r.size());
        next = r.end;
      }
      EXPECT_EQ(next, n);
      EXPECT_LE(largest - smallest, 1u) << "n=" << n << " servers=" << servers;
    }
}

// BSP to the bit (the public test's oracle) on a job of the given shape.
void expect_bsp_exact(int servers, int workers, std::size_t n, std::int64_t clocks) {
  expect_bsp_equals_sync_sgd(servers, workers, n, clocks, 11, 23, [](std::int64_t c) { return c % 3 ? 0.125 : 0.25; });
}

TEST(HiddenBsp, ServersWithoutKeys) {
  expect_bsp_exact(4, 1, 3, 4);  // server 3 owns nothing
  expect_bsp_exact(3, 2, 1, 5);  // only server 0 owns a key
}

TEST(HiddenBsp, MessagesTooLargeToGoEagerly) {
  // 1.2 MB ranges: sends complete only when the other side receives, so a worker or a server
  // that sends before it has posted what it must receive deadlocks here.
  expect_bsp_exact(2, 2, 300000, 3);
  expect_bsp_exact(1, 4, 200001, 2);
}

// SSP's bound and reports with the one-hot gradients, as in the public test.
TEST(HiddenConsistency, BoundsOnOtherShapes) {
  DTLAB_NEEDS_RANKS(5);
  for (const auto& [servers, workers, s] : {std::tuple{1, 4, 1}, std::tuple{3, 2, 2}, std::tuple{1, 3, 4}}) {
    SCOPED_TRACE(testing::Message() << servers << " servers, " << workers << " workers, SSP(" << s << ")");
    const OneHot h{.workers = workers, .clocks = 7};
    Plan p;
    p.servers = servers;
    p.workers = workers;
    p.n = std::size_t(servers * h.residues() + 1);
    p.clocks = h.clocks;
    p.gradient = h.gradient();
    p.config.optimizer = {.name = "sgd", .momentum = 0};
    p.config.staleness = s;
    p.keep_pulls = true;
    p.before_push = [](int w, std::int64_t) {
      if (w == 1) std::this_thread::sleep_for(std::chrono::milliseconds(30));
    };
    const Outcome o = run_job(dtlab::Comm::world(), p);
    if (!o.in_job) continue;
    if (!o.server)
      for (std::size_t c = 0; c < o.pulls.size(); ++c)
        for (int sv = 0; sv < servers; ++sv) {
          const KeyRange r = key_range(p.n, servers, sv);
          const Holds held = read_holds(o.pulls[c], h, r.begin, r.end);
          EXPECT_EQ(held.problem, "");
          if (!held.problem.empty()) continue;
          EXPECT_LE(std::int64_t(c) - held.version(), s) << "worker " << o.index << " at clock " << c;
          EXPECT_TRUE(held.whole_clocks()) << "worker " << o.index << " at clock " << c << " read part of a clock";
        }
    const Holds end = read_holds(o.params, h, 0, p.n);
    EXPECT_EQ(end.problem, "");
    EXPECT_EQ(end.version(), h.clocks);
    if (o.server) {
      std::int64_t worst = 0;
      for (const PullRecord& r : o.report.pulls) worst = std::max(worst, r.staleness());
      EXPECT_LE(worst, s);
      EXPECT_EQ(std::int64_t(o.report.pulls.size()), workers * h.clocks);
    }
  }
}

TEST(HiddenFailures, WorkerDeadBeforeItsFirstPull) {
  DTLAB_NEEDS_RANKS(4);
  for (int staleness : {0, kAsync}) {
    Plan p;
    p.servers = 1;
    p.workers = 3;
    p.n = 30;
    p.clocks = 3;
    p.gradient = dyadic_gradient(2);
    p.config.staleness = staleness;
    p.config.timeout = 0.5;
    p.dies = 2;
    p.dies_at = 0;  // never says a word
    const Outcome o = run_job(dtlab::Comm::world(), p);
    if (o.in_job && o.server) {
      EXPECT_EQ(o.report.dead, std::vector<int>{2}) << "staleness " << staleness;
      EXPECT_EQ(o.report.pushes, 6);
    }
  }
}

TEST(HiddenLoad, FourWorkersPushingOneServer) {
  DTLAB_NEEDS_RANKS(5);
  Plan p;
  p.servers = 1;
  p.workers = 4;
  p.n = 777;
  p.clocks = 40;
  p.pull_every_clock = false;
  p.gradient = [](int w, std::int64_t c, std::span<const float>, std::span<float> g) {
    for (std::size_t k = 0; k < g.size(); ++k) g[k] = float((std::int64_t(k) * 7 + w + 2 * c) % 9) - 4;
  };
  p.config.optimizer = {.name = "sgd", .momentum = 0};
  p.config.staleness = kAsync;
  const Outcome o = run_job(dtlab::Comm::world(), p);
  if (!o.in_job) return;
  std::size_t wrong = 0;
  for (std::size_t k = 0; k < p.n; ++k) {
    double want = 0;
    for (int w = 0; w < p.workers; ++w)
      for (std::int64_t c = 0; c < p.clocks; ++c) want -= (double((std::int64_t(k) * 7 + w + 2 * c) % 9) - 4) / 4;
    wrong += double(o.params[k]) != want;
  }
  EXPECT_EQ(wrong, 0u) << "keys differ from the sum of every push over W";
}

}  // namespace
}  // namespace lab04
