// Lab 03 public tests, Parts 2 to 4: the schedules as data (a dry run in unit time), the executor
// against the whole model in double precision, its op log against the schedule, and data x
// pipeline parallelism on 2 x 2 ranks.
#include <gtest/gtest.h>

#include <functional>

#include "dtlab/costmodel.hpp"
#include "dtlab/error.hpp"
#include "dtlab/oplog.hpp"
#include "lab03_pipeline_test.hpp"

namespace lab03 {
namespace {

using namespace lab03::test;

// ---- schedules ----

TEST(Schedules, GPipeIsValidAndTakesTwoTimesMPlusPMinusOne) {
  for (int p = 1; p <= 6; ++p)
    for (int m = 1; m <= 12; ++m) {
      SCOPED_TRACE(testing::Message() << "p=" << p << " m=" << m);
      const ScheduleRun run = dry_run(gpipe(p, m), p, m);
      ASSERT_EQ(run.problem, "");
      EXPECT_EQ(run.makespan, 2 * (m + p - 1));
      for (int r = 0; r < p; ++r) EXPECT_EQ(run.peak_activations[std::size_t(r)], m) << "rank " << r;
    }
}

TEST(Schedules, OneFOneBWarmsUpAndHoldsAtMostPMinusRankActivations) {
  for (int p = 1; p <= 6; ++p)
    for (int m = 1; m <= 12; ++m) {
      SCOPED_TRACE(testing::Message() << "p=" << p << " m=" << m);
      const Schedule s = one_f_one_b(p, m);
      const ScheduleRun run = dry_run(s, p, m);
      ASSERT_EQ(run.problem, "");
      EXPECT_EQ(run.makespan, 2 * (m + p - 1)) << "1F1B takes as long as GPipe";
      for (int r = 0; r < p; ++r) {
        EXPECT_EQ(forwards_before_first_backward(s[std::size_t(r)]), std::min(p - r, m))
            << "rank " << r << ": min(p - r - 1, m) warm-up forwards, then the first steady one";
        EXPECT_EQ(run.peak_activations[std::size_t(r)], std::min(p - r, m)) << "rank " << r;
      }
    }
}

TEST(Schedules, InterleavedIsValidAndItsBubbleShrinksByV) {
  for (int p = 1; p <= 4; ++p)
    for (int v = 1; v <= 3; ++v)
      for (int m = p; m <= 4 * p; m += p) {
        SCOPED_TRACE(testing::Message() << "p=" << p << " v=" << v << " m=" << m);
        const ScheduleRun run = dry_run(interleaved_1f1b(p, m, v), p, m, v);
        ASSERT_EQ(run.problem, "");
        // In units of one chunk's forward: each rank computes 2vm; the bubble is 2(p - 1), a v-th
        // of 1F1B's, whose units are v times longer: bubble fraction (p - 1) / (vm + p - 1).
        EXPECT_EQ(run.makespan, 2 * (v * m + p - 1));
      }
}

TEST(Schedules, BadShapesAreErrors) {
  expect_refused([] { gpipe(0, 4); }, "gpipe with 0 stages");
  expect_refused([] { one_f_one_b(2, 0); }, "1F1B with 0 micro-batches");
  expect_refused([] { interleaved_1f1b(2, 3, 2); }, "interleaved, m = 3 not a multiple of p = 2");
  expect_refused([] { interleaved_1f1b(2, 4, 0); }, "interleaved with 0 chunks");
}

// ---- the executor ----

TEST(Pipeline, GPipeGradientsMatchTheUnsplitModel) {
  for_each_size([](const Comm& group) { expect_step_matches_oracle(group, Kind::gpipe, {1, 2, 3, 4, 6}); });
}

TEST(Pipeline, OneFOneBGradientsMatchTheUnsplitModel) {
  for_each_size([](const Comm& group) { expect_step_matches_oracle(group, Kind::one_f_one_b, {1, 2, 3, 4, 6}); });
}

TEST(Pipeline, InterleavedGradientsMatchTheUnsplitModel) {
  for_each_size([](const Comm& group) {
    std::vector<int> ms;
    for (int m = group.size(); m <= 8; m += group.size())
      if (24 % m == 0) ms.push_back(m);
    expect_step_matches_oracle(group, Kind::interleaved, ms, 2);
  });
}

TEST(Pipeline, OpLogFollowsTheSchedule) {
  for_each_size([](const Comm& group) {
    for (const Kind kind : {Kind::gpipe, Kind::one_f_one_b, Kind::interleaved}) {
      const int v = kind == Kind::interleaved ? 2 : 1, m = 2 * group.size();
      expect_log_follows_schedule(group, kind, m, v);
    }
  });
}

// The bubble from the op log: one step of a model whose layers all cost the same, replayed with
// free messages, against the formula. The first stage's backward costs a little less (its first
// layer computes no input gradient), hence 2% and not exact. On the whole world (the op logs are
// gathered over it): p = 4 under the grader.
TEST(Pipeline, ReplayedBubbleIsTheFormulas) {
  guarded([](const Comm& group) {
    const int p = group.size();
    if (p == 1) GTEST_SKIP() << "one stage has no bubble";
    const dtlab::MlpConfig uniform{.inputs = 32, .hidden = {32, 32, 32, 32, 32, 32, 32}, .classes = 32};
    for (const Kind kind : {Kind::gpipe, Kind::one_f_one_b, Kind::interleaved}) {
      const int m = 8, v = kind == Kind::interleaved ? 2 : 1;
      SCOPED_TRACE(testing::Message() << name(kind) << ", m=" << m << ", v=" << v);
      Pipeline pipe(uniform, group, v);
      pipe.init(81);
      const Batch b = random_batch(uniform, 8 * m, 82);
      const Schedule s = schedule_of(kind, p, m, v);
      auto& log = dtlab::OpLog::instance();
      log.set_enabled(true);
      group.barrier();
      log.clear();
      pipe.run(s[std::size_t(group.rank())], m, b.x, b.y);
      const auto logs = dtlab::gather_logs();  // on world rank 0 only
      log.set_enabled(false);
      if (logs.empty()) continue;
      const dtlab::CostModel free_messages{.alpha = 0, .beta = 0, .gamma = 0, .flop_rate = 1e9};
      const dtlab::Replay r = dtlab::replay(logs, free_messages);
      double busiest = 0;
      for (int k = 0; k < p; ++k) {
        double compute = 0;
        for (const auto& op : logs[std::size_t(k)].ops)
          if (op.kind == dtlab::OpKind::compute) compute += op.flops / free_messages.flop_rate;
        busiest = std::max(busiest, compute);
      }
      const double bubble = 1 - busiest / r.makespan, formula = double(p - 1) / (v * m + p - 1);
      EXPECT_NEAR(bubble, formula, 0.02) << "modeled bubble " << bubble << ", formula (p-1)/(vm+p-1) = " << formula;
    }
  }, Comm::world());
}

TEST(Pipeline, TrainingStepsMatchTheUnsplitModel) {
  for_each_size([](const Comm& group) {
    dtlab::Mlp whole(pp_model());
    whole.init(41);
    std::vector<Batch> batches;
    for (int k = 0; k < 4; ++k) batches.push_back(random_batch(pp_model(), 24, 42 + std::uint64_t(k)));
    const auto expect = train_whole(whole, batches);
    Pipeline pipe(pp_model(), group, 1, optimizer_config());
    pipe.init(41);
    const Schedule s = one_f_one_b(group.size(), 3);
    for (const Batch& b : batches) {
      pipe.run(s[std::size_t(group.rank())], 3, b.x, b.y);
      pipe.step(kTrainLr);
    }
    dtlab::Mlp got(pp_model());
    pipe.gather(got);
    EXPECT_LE(relative_difference(got.params(), expect), kTrainTolerance) << "after 4 steps of 1F1B, m = 3";
  });
}

// ---- data x pipeline ----

TEST(DataPipeline, TwoByTwoMatchesTheUnsplitModel) {
  const Comm world = Comm::world();
  if (world.size() % 2 != 0) GTEST_SKIP() << "needs an even number of ranks";
  guarded([](const Comm& world) { expect_data_pipeline_matches(world, 2, 2, Kind::one_f_one_b); }, world);
}

}  // namespace
}  // namespace lab03
