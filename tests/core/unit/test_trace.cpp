// Timelines in Chrome's trace-event format.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "dtlab/trace.hpp"
#include "log_builder.hpp"

namespace dtlab {
namespace {

using nlohmann::json;

TEST(ChromeTrace, OneProcessPerRankOneSlicePerOpOneArrowPerMessage) {
  auto b = test::ring_allreduce_log(3, 3000);
  b.compute(0, 1e6, "forward");
  const Replay r = replay(b.logs(), CostModel{});
  const json doc = json::parse(chrome_trace(b.logs(), r, TraceClock::model));
  std::map<int, int> slices;
  std::set<int> named;
  int starts = 0, finishes = 0;
  for (const auto& e : doc.at("traceEvents")) {
    const std::string ph = e.at("ph");
    if (ph == "M" && e.at("name") == "process_name") {
      named.insert(e.at("pid").get<int>());
      EXPECT_EQ(e.at("args").at("name"), "rank " + std::to_string(e.at("pid").get<int>()));
    }
    if (ph == "X") {
      ++slices[e.at("pid").get<int>()];
      EXPECT_GE(e.at("dur").get<double>(), 0.0);
      EXPECT_GE(e.at("ts").get<double>(), 0.0);
    }
    starts += ph == "s";
    finishes += ph == "f";
  }
  EXPECT_EQ(named, (std::set<int>{0, 1, 2}));
  for (int rank = 0; rank < 3; ++rank)
    EXPECT_EQ(slices[rank], int(b.logs()[rank].ops.size())) << "rank " << rank;
  EXPECT_EQ(starts, int(r.messages.size()));
  EXPECT_EQ(finishes, starts);
  EXPECT_EQ(doc.at("otherData").at("clock"), "model");
  EXPECT_DOUBLE_EQ(doc.at("otherData").at("modeled_seconds").get<double>(), r.makespan);
}

TEST(ChromeTrace, ModelClockUsesTheReplayTimes) {
  auto b = test::ring_allreduce_log(2, 2000);
  const Replay r = replay(b.logs(), CostModel{});
  const json doc = json::parse(chrome_trace(b.logs(), r, TraceClock::model));
  double last_end = 0;
  for (const auto& e : doc.at("traceEvents"))
    if (e.at("ph") == "X")
      last_end = std::max(last_end, e.at("ts").get<double>() + e.at("dur").get<double>());
  EXPECT_NEAR(last_end, r.makespan * 1e6, 1e-6);
}

TEST(ChromeTrace, WallClockUsesTheLoggedTimes) {
  test::LogBuilder b(1);
  b.compute(0, 0, "step");
  b.mutable_logs()[0].ops[0].t_start = 0.5;
  b.mutable_logs()[0].ops[0].t_end = 0.75;
  const json doc = json::parse(chrome_trace(b.logs(), replay(b.logs(), CostModel{}), TraceClock::wall));
  for (const auto& e : doc.at("traceEvents"))
    if (e.at("ph") == "X") {
      EXPECT_EQ(e.at("name"), "step");
      EXPECT_DOUBLE_EQ(e.at("ts").get<double>(), 0.5e6);
      EXPECT_DOUBLE_EQ(e.at("dur").get<double>(), 0.25e6);
    }
}

}  // namespace
}  // namespace dtlab
