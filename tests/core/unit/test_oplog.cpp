// The op log itself: marked compute, switching off, and its file form.
#include <gtest/gtest.h>

#include <fstream>

#include "dtlab/error.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/oplog.hpp"
#include "log_builder.hpp"
#include "test_util.hpp"

namespace dtlab {
namespace {

TEST(OpLog, ComputeScopeRecordsLabelFlopsAndTime) {
  auto& log = OpLog::instance();
  log.set_enabled(true);
  log.clear();
  { ComputeScope s("matmul", 1e9, 64); }
  ASSERT_EQ(log.data().ops.size(), 1u);
  const Op& op = log.data().ops[0];
  EXPECT_EQ(op.kind, OpKind::compute);
  EXPECT_EQ(log.data().label(op), "matmul");
  EXPECT_EQ(op.flops, 1e9);
  EXPECT_EQ(op.reduce_bytes, 64u);
  EXPECT_LE(op.t_start, op.t_end);
}

TEST(OpLog, DisabledRecordsNothing) {
  auto& log = OpLog::instance();
  log.clear();
  log.set_enabled(false);
  { ComputeScope s("x"); }
  EXPECT_TRUE(log.data().ops.empty());
  log.set_enabled(true);
}

TEST(OpLog, FileRoundTrip) {
  test::TempDir dir;
  auto b = test::ring_allreduce_log(3, 300);
  b.compute(1, 5e5, "backward");
  b.mutable_logs()[2].counters.bytes_sent = 12345;
  save_oplogs(dir / "log.json", b.logs());
  const auto back = load_oplogs(dir / "log.json");
  ASSERT_EQ(back.size(), 3u);
  for (int r = 0; r < 3; ++r) {
    const auto& a = b.logs()[r];
    const auto& c = back[r];
    ASSERT_EQ(a.ops.size(), c.ops.size());
    EXPECT_EQ(a.labels, c.labels);
    for (std::size_t i = 0; i < a.ops.size(); ++i) {
      EXPECT_EQ(a.ops[i].kind, c.ops[i].kind);
      EXPECT_EQ(a.ops[i].peer, c.ops[i].peer);
      EXPECT_EQ(a.ops[i].bytes, c.ops[i].bytes);
      EXPECT_EQ(a.ops[i].recv_peer, c.ops[i].recv_peer);
      EXPECT_EQ(a.ops[i].reduce_bytes, c.ops[i].reduce_bytes);
      EXPECT_EQ(a.ops[i].flops, c.ops[i].flops);
    }
  }
  EXPECT_EQ(back[2].counters.bytes_sent, 12345u);
  EXPECT_EQ(replay(back, CostModel{}).makespan, replay(b.logs(), CostModel{}).makespan);
}

TEST(OpLog, LoadRejectsOtherFiles) {
  test::TempDir dir;
  std::ofstream(dir / "x.json") << R"({"traceEvents": []})";
  EXPECT_THROW(load_oplogs(dir / "x.json"), Error);
  std::ofstream(dir / "y.json") << "not json";
  EXPECT_THROW(load_oplogs(dir / "y.json"), Error);
  EXPECT_THROW(load_oplogs(dir / "missing.json"), Error);
}

}  // namespace
}  // namespace dtlab
