// The fault plan: specs parsed strictly, faults where and when they were asked for, random choices
// the same for the same seed.
#include <gtest/gtest.h>

#include "dtlab/error.hpp"
#include "dtlab/faults.hpp"

namespace dtlab {
namespace {

TEST(Faults, PersistentStragglerAndKillHitOnlyTheirRankAndSteps) {
  const FaultPlan plan({"slow:rank=1,factor=4,from=3", "kill:rank=2,step=5"}, 3, 7);
  EXPECT_EQ(plan.slowdown(1, 2), 1);
  EXPECT_EQ(plan.slowdown(1, 3), 4);
  EXPECT_EQ(plan.slowdown(1, 100), 4);
  EXPECT_EQ(plan.slowdown(0, 3), 1);
  EXPECT_FALSE(plan.dead(2, 4));
  EXPECT_TRUE(plan.dead(2, 5));
  EXPECT_TRUE(plan.dead(2, 6));
  EXPECT_FALSE(plan.dead(1, 6));
  EXPECT_EQ(plan.describe(), "slow: participant 1 x4 from step 3; kill: participant 2 at step 5 (seed 7)");
}

TEST(Faults, TransientStragglerIsOneParticipantPerStepSpreadOverAll) {
  const int n = 4;
  const FaultPlan plan({"slow:rank=any,factor=3"}, n, 11);
  std::vector<int> hits(n);
  for (int step = 0; step < 4000; ++step) {
    int slow = 0;
    for (int w = 0; w < n; ++w)
      if (plan.slowdown(w, step) == 3) ++slow, ++hits[std::size_t(w)];
    ASSERT_EQ(slow, 1) << "step " << step;
  }
  // Each participant is the straggler about a quarter of the time (binomial, sd 27: 6 sd margin).
  for (int w = 0; w < n; ++w) EXPECT_NEAR(hits[std::size_t(w)], 1000, 165) << "participant " << w;
  // Replayable: the same seed draws the same stragglers, another seed others.
  const FaultPlan again({"slow:rank=any,factor=3"}, n, 11), other({"slow:rank=any,factor=3"}, n, 12);
  int differ = 0;
  for (int step = 0; step < 100; ++step)
    for (int w = 0; w < n; ++w) {
      EXPECT_EQ(plan.slowdown(w, step), again.slowdown(w, step));
      differ += plan.slowdown(w, step) != other.slowdown(w, step);
    }
  EXPECT_GT(differ, 0);
}

TEST(Faults, RandomRankIsDrawnOnceFromTheSeed) {
  const FaultPlan a({"kill:rank=random,step=2"}, 8, 5), b({"kill:rank=random,step=2"}, 8, 5);
  ASSERT_EQ(a.faults().size(), 1u);
  EXPECT_GE(a.faults()[0].rank, 0);
  EXPECT_LT(a.faults()[0].rank, 8);
  EXPECT_EQ(a.faults()[0].rank, b.faults()[0].rank);
}

TEST(Faults, BadSpecsAreErrorsThatSayWhat) {
  const auto message = [](const std::vector<std::string>& specs) {
    try {
      FaultPlan(specs, 3, 1);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({"slow:rank=1"}).find("something is missing"), std::string::npos);
  EXPECT_NE(message({"slow:rank=1,factor=0.5"}).find("at least 1"), std::string::npos);
  EXPECT_NE(message({"kill:rank=3,step=1"}).find("rank 3 does not exist (expected 0 to 2)"), std::string::npos);
  EXPECT_NE(message({"kill:rank=any,step=1"}).find("rank=any is not a number"), std::string::npos);
  EXPECT_NE(message({"freeze:rank=1"}).find("unknown fault 'freeze'"), std::string::npos);
  EXPECT_NE(message({"slow:rank=1,factor=2,speed=3"}).find("unexpected 'speed'"), std::string::npos);
  EXPECT_NE(message({"kill:rank=1,step=-1"}).find("0 or more"), std::string::npos);
}

}  // namespace
}  // namespace dtlab
