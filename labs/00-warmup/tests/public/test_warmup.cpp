// Lab 00 public tests: each backward pass against finite differences and against its definition,
// the MLP trained with them, and the ping-pong and the fit. Every rank runs the layer tests (they
// are cheap and need no communication); training runs on rank 0; the ping-pong needs 2 ranks.
#include "lab00_test.hpp"

namespace lab00::test {
namespace {

// ---- linear ----

TEST(Linear, GradientCheckOnSeveralShapes) {
  for (const Shape s : {Shape{1, 1, 1}, Shape{1, 5, 3}, Shape{4, 5, 3}, Shape{7, 3, 11}}) gradcheck_linear(s, 1);
}

TEST(Linear, EqualsTheDefinition) {
  for (const Shape s : {Shape{1, 4, 2}, Shape{3, 5, 7}, Shape{6, 1, 4}}) compare_linear_with_definition(s, 2, true);
}

TEST(Linear, DxMayBeNull) {
  // The MLP's first layer needs no dx and passes nullptr; dw and db must still be right.
  compare_linear_with_definition(Shape{5, 4, 3}, 3, false);
}

TEST(Linear, BiasGradientSumsOverTheBatch) {
  // Row n of dy is all n + 1: every row contributes, so db = 1 + 2 + ... + batch everywhere.
  const int batch = 4, in = 2, out = 3;
  std::vector<float> x(batch * in, 1.0f), w(out * in, 1.0f), dy(batch * out), dw(out * in), db(out, 9.0f);
  for (int n = 0; n < batch; ++n)
    for (int o = 0; o < out; ++o) dy[n * out + o] = float(n + 1);
  linear_backward(ConstMatMap(x.data(), batch, in), ConstMatMap(w.data(), out, in), ConstMatMap(dy.data(), batch, out),
                  MatMap(dw.data(), out, in), VecMap(db.data(), out), nullptr);
  EXPECT_EQ(db, std::vector<float>(out, 10.0f)) << "db[o] = sum over the batch of dy[n][o]";
}

// ---- ReLU ----

TEST(Relu, GradientCheck) {
  for (const auto& [rows, cols] : {std::pair{1, 1}, std::pair{3, 6}, std::pair{5, 17}}) gradcheck_relu(rows, cols, 4);
}

TEST(Relu, MaskComesFromTheOutput) {
  // Where the output is 0 nothing flows back, whatever the sign of dy; where it is positive, dy
  // flows back unchanged, negative or not.
  const std::vector<float> y{0.0f, 2.0f, 0.0f, 3.0f};
  std::vector<float> dy{5.0f, -4.0f, -6.0f, 1.0f};
  relu_backward(ConstMatMap(y.data(), 2, 2), MatMap(dy.data(), 2, 2));
  EXPECT_EQ(dy, (std::vector<float>{0.0f, -4.0f, 0.0f, 1.0f}));
}

// ---- softmax cross-entropy ----

TEST(SoftmaxCrossEntropy, MatchesTheDefinition) {
  check_softmax_ce(5, 4, 3.0f, 7);
  check_softmax_ce(1, 10, 1.0f, 9);
  check_softmax_ce(8, 3, 0.5f, 11);
}

TEST(SoftmaxCrossEntropy, StableForHugeLogits) {
  // exp(1000) is inf in float: only a max-subtracting implementation stays finite.
  const std::vector<float> logits{1000.0f, -1000.0f, 999.0f, 5000.0f, 5000.0f, -5000.0f};
  const std::vector<std::int32_t> labels{2, 0};
  std::vector<float> d;
  const float loss = call_softmax_ce(logits, labels, 3, d);
  // Row 0: log(e^1000 + e^999) - 999 = 1 + log(1 + e^-1); row 1: log(2 e^5000) - 5000 = log 2.
  EXPECT_NEAR(loss, (1 + std::log1p(std::exp(-1.0)) + std::log(2.0)) / 2, 1e-4);
  for (float v : d) EXPECT_TRUE(std::isfinite(v)) << "dlogits has " << v;
  EXPECT_TRUE(close_to(d, softmax_ce_by_definition(logits, labels, 3).dlogits, 3, "dlogits"));
}

TEST(SoftmaxCrossEntropy, GradientIsAveragedOverTheBatch) {
  // A batch of 6 copies of one row: the same mean loss as the row alone, and each row's gradient
  // one sixth of the row's own.
  const std::vector<float> row{0.5f, -1.0f, 2.0f, 0.0f};
  const std::vector<std::int32_t> one{1}, six(6, 1);
  std::vector<float> logits;
  for (int i = 0; i < 6; ++i) logits.insert(logits.end(), row.begin(), row.end());
  std::vector<float> d1, d6;
  const float l1 = call_softmax_ce(row, one, 4, d1), l6 = call_softmax_ce(logits, six, 4, d6);
  EXPECT_NEAR(l6, l1, 1e-6) << "the loss is the mean over the batch, not the sum";
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_NEAR(d6[i * 4 + j], d1[j] / 6, 1e-7) << "row " << i << ", class " << j;
}

// ---- the whole MLP ----

TEST(MlpGradients, MatchFiniteDifferences) { gradcheck_mlp(dtlab::MlpConfig{12, {8, 6}, 4}, 7, 3); }

TEST(MlpGradients, EveryBackwardOverwritesTheLastOne) {
  // The MLP keeps its gradient buffer between steps: a backward pass that adds to its outputs
  // instead of overwriting them would sum every step's gradients.
  dtlab::Mlp m = checkable_mlp(dtlab::MlpConfig{12, {8, 6}, 4}, 5);
  const auto x = randn(7 * 12, 6);
  const auto y = random_labels(7, 4, 7);
  m.forward_backward(x, y);
  const std::vector<float> first(m.grads().begin(), m.grads().end());
  m.forward_backward(x, y);
  EXPECT_TRUE(std::equal(first.begin(), first.end(), m.grads().begin()))
      << "the same batch twice must give the same gradients";
}

// ---- training ----

TEST(Training, OneEpochOfFashionMnistReaches85Percent) {
  // dtlab train's defaults (784-512-256-10, batch 512, SGD with Nesterov momentum), one epoch:
  // the reference reaches 86.0% (docs/results/lab00.md).
  const double accuracy = accuracy_after_one_epoch(dtlab::TrainConfig{});
  if (accuracy >= 0) {
    EXPECT_GE(accuracy, 0.85) << "test accuracy after one epoch with your backward passes";
  }
}

// ---- ping-pong ----

TEST(PingPong, SendsExactlyTheRoundTrips) {
  const Comm world = Comm::world();
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  check_pingpong_messages(world, {1, 100, 4096, 65536}, 3);
  // The same job's ranks in reverse order: comm's rank 0 is not world rank 0.
  const Comm reversed = world.split(0, world.size() - 1 - world.rank());
  check_pingpong_messages(reversed, {8, 1000}, 2);
}

TEST(PingPong, LargeMessagesTakeLonger) {
  const Comm world = Comm::world();
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  const std::vector<std::uint64_t> sizes{8, 4 << 20};
  const auto s = pingpong(world, sizes, 5);
  if (world.rank() == 0) {
    ASSERT_EQ(s.size(), 2u);
    EXPECT_GT(s[1].seconds, s[0].seconds) << "4 MiB took no longer than 8 bytes";
  }
}

TEST(PingPongTiming, OneWayIsHalfARoundTrip) {
  // Your one-way time against a round trip this test times itself, 7 times alternately, at 1 MiB
  // (where the copy, not the scheduler, sets the time): half of it. Measured side by side, the
  // ratio stays within 0.47..0.52 here even on a busy machine, where alpha and beta themselves
  // move by 2x from run to run; so this test, not the alpha-beta match, checks the halving.
  const Comm world = Comm::world();
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  const double ratio = one_way_over_round_trip(world, 1 << 20, 10, 7);
  if (world.rank() == 0) {
    EXPECT_GT(ratio, 0.35) << "your one-way time over a round trip";
    EXPECT_LT(ratio, 0.7) << "your one-way time over a round trip: report half of the round trip";
  }
}

TEST(PingPong, NeedsTwoRanksAndARepetition) {
  const Comm world = Comm::world();
  const std::vector<std::uint64_t> sizes{8};
  const Comm alone = world.split(world.rank(), 0);
  EXPECT_TRUE(throws_error([&] { pingpong(alone, sizes, 10); })) << "on a communicator of 1 rank";
  if (world.size() >= 2) {
    EXPECT_TRUE(throws_error([&] { pingpong(world, sizes, 0); })) << "with 0 repetitions";
  }
}

// ---- the fit ----

TEST(Fit, RecoversAnExactLine) {
  EXPECT_TRUE(fit_is(fit_alpha_beta(exact_samples(2e-6, 1e-10, powers_of_two(1, 1 << 24))), {2e-6, 1e-10}, 1e-9));
  EXPECT_TRUE(fit_is(fit_alpha_beta(exact_samples(5e-5, 1e-9, {0, 10, 1000})), {5e-5, 1e-9}, 1e-9));
}

TEST(Fit, IsLeastSquaresOnTheRelativeError) {
  const auto s = noisy_samples(1e-6, 2e-10, powers_of_two(1, 1 << 22), 0.2, 3);
  EXPECT_TRUE(fit_is(fit_alpha_beta(s), relative_least_squares(s), 1e-7));
}

TEST(Fit, NeedsTwoDifferentSizes) {
  EXPECT_TRUE(throws_error([] { fit_alpha_beta({}); })) << "no samples";
  EXPECT_TRUE(throws_error([] { fit_alpha_beta(exact_samples(1e-6, 1e-9, {64})); })) << "one sample";
  EXPECT_TRUE(throws_error([] { fit_alpha_beta(exact_samples(1e-6, 1e-9, {64, 64, 64})); })) << "one size";
}

}  // namespace
}  // namespace lab00::test
