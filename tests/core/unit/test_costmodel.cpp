// The replay of op logs under the alpha-beta-gamma model, against closed forms.
#include <gtest/gtest.h>

#include <cmath>

#include "dtlab/costmodel.hpp"
#include "dtlab/error.hpp"
#include "log_builder.hpp"
#include "test_util.hpp"

namespace dtlab {
namespace {

using test::LogBuilder;

// Parameters far apart in scale, so that a term priced with the wrong parameter shows.
CostModel model() {
  CostModel m;
  m.alpha = 3e-6;
  m.beta = 2e-10;
  m.gamma = 7e-11;
  m.flop_rate = 4e10;
  return m;
}

void expect_time(double modeled, double expected) {
  EXPECT_NEAR(modeled, expected, 1e-12 + 1e-12 * expected) << "modeled " << modeled << " s, closed form "
                                                            << expected << " s";
}

TEST(Replay, RingAllreduceMatchesClosedForm) {
  const CostModel m = model();
  for (int p = 2; p <= 8; ++p) {
    for (std::uint64_t n : {std::uint64_t(p) * 4, std::uint64_t(p) * 1000, std::uint64_t(p) << 20}) {
      const auto b = test::ring_allreduce_log(p, n);
      const Replay r = replay(b.logs(), m);
      SCOPED_TRACE(testing::Message() << "p=" << p << " n=" << n);
      expect_time(r.makespan, ring_allreduce_cost(p, double(n), m));
      // 2(p-1) messages per rank, every one matched to a receive.
      EXPECT_EQ(r.messages.size(), std::size_t(2 * (p - 1) * p));
      for (const auto& msg : r.messages) EXPECT_GE(msg.recv_op, 0);
    }
  }
}

TEST(Replay, RingThatSendsTheWholeBufferEachStepIsSlower) {
  // The classic bug: correct result, but every step sends n instead of n/p.
  const CostModel m = model();
  const int p = 4;
  const std::uint64_t n = 1 << 20;
  const double right = replay(test::ring_allreduce_log(p, n).logs(), m).makespan;
  const double wrong = replay(test::ring_allreduce_log(p, n, n).logs(), m).makespan;
  EXPECT_GT(wrong, 2 * right);
  EXPECT_GT(std::abs(wrong - ring_allreduce_cost(p, double(n), m)), 1e-6);
}

TEST(Replay, RecursiveDoublingMatchesClosedForm) {
  const CostModel m = model();
  for (int p : {2, 4, 8, 16}) {
    LogBuilder b(p);
    const std::uint64_t n = 4096;
    for (int r = 0; r < p; ++r)
      for (int mask = 1; mask < p; mask <<= 1) {
        b.sendrecv(r, r ^ mask, n, r ^ mask, n);
        b.reduce(r, n);
      }
    expect_time(replay(b.logs(), m).makespan, recursive_doubling_allreduce_cost(p, double(n), m));
  }
}

TEST(Replay, BinomialBroadcastTakesCeilLog2Rounds) {
  const CostModel m = model();
  for (int p = 2; p <= 9; ++p) {
    LogBuilder b(p);
    const std::uint64_t n = 1000;
    // Root 0. Rank r receives from r - mask, where mask is r's highest set bit, then forwards.
    for (int r = 0; r < p; ++r) {
      int mask = 1;
      while (mask < p) {
        if (r & mask) {
          b.recv(r, r - mask, n);
          break;
        }
        mask <<= 1;
      }
      for (mask >>= 1; mask > 0; mask >>= 1)
        if (r + mask < p) b.send(r, r + mask, n);
    }
    const double rounds = std::ceil(std::log2(double(p)));
    SCOPED_TRACE(testing::Message() << "p=" << p);
    expect_time(replay(b.logs(), m).makespan, rounds * (m.alpha + n * m.beta));
  }
}

TEST(Replay, ManyToOneQueuesAtTheReceiver) {
  // Everyone sends to rank 0 at once: one incoming link, so (p-1) transfers back to back.
  const CostModel m = model();
  const int p = 6;
  const std::uint64_t n = 1 << 16;
  LogBuilder b(p);
  std::vector<std::int64_t> ids;
  for (int r = 1; r < p; ++r) {
    b.send(r, 0, n);
    ids.push_back(b.irecv(0, r, n));
  }
  b.wait(0, ids);
  expect_time(replay(b.logs(), m).makespan, (p - 1) * (m.alpha + n * m.beta));
}

TEST(Replay, NonBlockingSendOverlapsCompute) {
  const CostModel m = model();
  const std::uint64_t n = 1 << 20;
  const double transfer = m.alpha + n * m.beta;
  for (const double flops : {1e3, 1e7}) {  // compute shorter, then longer, than the transfer
    LogBuilder b(2);
    const auto id = b.isend(0, 1, n);
    b.compute(0, flops);
    b.wait(0, {id});
    b.recv(1, 0, n);
    const Replay r = replay(b.logs(), m);
    expect_time(r.finish[0], std::max(transfer, flops / m.flop_rate));
    expect_time(r.finish[1], transfer);
  }
}

TEST(Replay, CollectiveStartsWhenTheLastRankArrives) {
  const CostModel m = model();
  const int p = 4;
  const std::uint64_t n = 1 << 20;
  LogBuilder b(p);
  b.compute(2, 4e6);  // rank 2 is late by 100 us
  for (int r = 0; r < p; ++r) b.collective(r, "allreduce", n);
  const Replay r = replay(b.logs(), m);
  expect_time(r.makespan, 4e6 / m.flop_rate + collective_cost("allreduce", p, double(n), m));
  for (int i = 0; i < p; ++i) expect_time(r.finish[i], r.makespan);
}

TEST(Replay, NonBlockingCollectiveCompletesAtItsWait) {
  const CostModel m = model();
  LogBuilder b(2);
  for (int r = 0; r < 2; ++r) {
    const auto id = b.icollective(r, "allreduce", 4096);
    b.compute(r, 8e6);
    b.wait(r, {id});
  }
  const double coll = collective_cost("allreduce", 2, 4096, m);
  expect_time(replay(b.logs(), m).makespan, std::max(coll, 8e6 / m.flop_rate));
}

// A communication worker's job (async.hpp) runs on a lane of its own: a ring exchange between two
// ranks during compute costs max(compute, exchange), not their sum, and waiting for the job ends
// when its last message has arrived.
TEST(Replay, WorkerLaneOverlapsTheProgramsCompute) {
  const CostModel m = model();
  const std::uint64_t n = 1 << 20;
  const double exchange = m.alpha + n * m.beta + n * m.gamma;
  for (const double flops : {1e3, 1e7}) {  // compute shorter, then longer, than the exchange
    LogBuilder b(2);
    for (int r = 0; r < 2; ++r) {
      const auto id = b.job_post(r);
      b.compute(r, flops);
      b.wait(r, {id});
      b.set_lane(r, 1);
      b.job_begin(r, id);
      b.sendrecv(r, 1 - r, n, 1 - r, n);
      b.reduce(r, n);
      b.job_end(r, id);
      b.set_lane(r, 0);
    }
    const Replay rp = replay(b.logs(), m);
    expect_time(rp.makespan, std::max(exchange, flops / m.flop_rate));
  }
}

// A job cannot start before it is posted, even when its lane is idle, and jobs on one lane run in
// order: the second waits for the first.
TEST(Replay, WorkerJobsStartWhenPostedAndRunInOrder) {
  const CostModel m = model();
  const std::uint64_t n = 1 << 20;
  const double msg = m.alpha + n * m.beta;
  LogBuilder b(2);
  std::int64_t ids[2][2];
  for (int r = 0; r < 2; ++r) {
    b.compute(r, 4e6);  // 100 us before the first post
    ids[r][0] = b.job_post(r);
    ids[r][1] = b.job_post(r);
    b.wait(r, {ids[r][0], ids[r][1]});
  }
  for (int r = 0; r < 2; ++r) {
    b.set_lane(r, 1);
    for (int j = 0; j < 2; ++j) {
      b.job_begin(r, ids[r][j]);
      b.sendrecv(r, 1 - r, n, 1 - r, n);
      b.job_end(r, ids[r][j]);
    }
  }
  expect_time(replay(b.logs(), m).makespan, 4e6 / m.flop_rate + 2 * msg);
}

TEST(Replay, WaitingForAJobThatNeverRunsIsAnError) {
  LogBuilder b(1);
  const auto id = b.job_post(0);
  b.wait(0, {id});
  EXPECT_THROW(replay(b.logs(), model()), Error);
}

TEST(Replay, CollectiveCostsAreTheBestKnownAlgorithms) {
  const CostModel m = model();
  // Small messages: recursive doubling wins; large: the ring.
  EXPECT_DOUBLE_EQ(collective_cost("allreduce", 8, 8, m), recursive_doubling_allreduce_cost(8, 8, m));
  EXPECT_DOUBLE_EQ(collective_cost("allreduce", 8, 1e8, m), ring_allreduce_cost(8, 1e8, m));
  EXPECT_DOUBLE_EQ(collective_cost("barrier", 5, 0, m), 3 * m.alpha);
  EXPECT_DOUBLE_EQ(collective_cost("broadcast", 1, 1e6, m), 0.0);
  // The ring closed form from the handout: 2(p-1)a + 2(p-1)/p nb + (p-1)/p ng.
  EXPECT_DOUBLE_EQ(ring_allreduce_cost(4, 1000, m), 6 * m.alpha + 1500 * m.beta + 750 * m.gamma);
}

TEST(Replay, SelfMessagesAreFree) {
  LogBuilder b(1);
  const auto s = b.isend(0, 0, 1 << 20);
  const auto r = b.irecv(0, 0, 1 << 20);
  b.wait(0, {s, r});
  EXPECT_EQ(replay(b.logs(), model()).makespan, 0.0);
}

TEST(Replay, IgnoresWallTimesAndIsDeterministic) {
  auto b = test::ring_allreduce_log(5, 5000);
  const double first = replay(b.logs(), model()).makespan;
  double t = 0;
  for (auto& log : b.mutable_logs())
    for (auto& op : log.ops) {
      op.t_start = t += 0.37;
      op.t_end = t += 1.1;
    }
  EXPECT_EQ(replay(b.logs(), model()).makespan, first);
}

TEST(Replay, MatchesByTagInOrder) {
  // Two messages with different tags received in the opposite order of sending: the tags, not
  // the order, decide which send feeds which receive.
  const CostModel m = model();
  LogBuilder b(2);
  const auto a = b.isend(0, 1, 100, /*tag=*/1);
  const auto c = b.isend(0, 1, 1 << 20, /*tag=*/2);
  b.wait(0, {a, c});
  b.recv(1, 0, 1 << 20, 2);
  b.recv(1, 0, 100, 1);
  const Replay r = replay(b.logs(), m);
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[0].recv_op, 1);  // the tag-1 send went to the second receive
  EXPECT_EQ(r.messages[1].recv_op, 0);
}

TEST(Replay, ReceiveThatNoLogSendsIsAnError) {
  LogBuilder b(2);
  b.recv(1, 0, 8);
  try {
    replay(b.logs(), model());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rank 1 waits at op 0"), std::string::npos) << e.what();
  }
}

TEST(Replay, MismatchedCollectivesAreAnError) {
  LogBuilder b(2);
  b.collective(0, "allreduce", 8);
  b.collective(1, "broadcast", 8);
  EXPECT_THROW(replay(b.logs(), model()), Error);
}

TEST(Replay, LogsFromDifferentRunSizesAreAnError) {
  auto b = test::ring_allreduce_log(3, 300);
  auto logs = b.logs();
  logs.pop_back();
  EXPECT_THROW(replay(logs, model()), Error);
}

TEST(CostModelFile, SavesAndLoads) {
  test::TempDir dir;
  const CostModel m = model();
  m.save(dir / "m.toml");
  const CostModel l = CostModel::load(dir / "m.toml");
  EXPECT_NEAR(l.alpha, m.alpha, 1e-6 * m.alpha);
  EXPECT_NEAR(l.beta, m.beta, 1e-6 * m.beta);
  EXPECT_NEAR(l.gamma, m.gamma, 1e-6 * m.gamma);
  EXPECT_NEAR(l.flop_rate, m.flop_rate, 1e-6 * m.flop_rate);
}

TEST(CostModelFile, RejectsBadValues) {
  test::TempDir dir;
  for (const char* text : {"alpha = -1\n", "beta = \"fast\"\n", "alpha = = 2\n", "flop_rate = 0\n"}) {
    std::FILE* f = std::fopen((dir / "bad.toml").c_str(), "w");
    std::fputs(text, f);
    std::fclose(f);
    EXPECT_THROW(CostModel::load(dir / "bad.toml"), Error) << text;
  }
}

}  // namespace
}  // namespace dtlab
