// Lab 00 hidden tests: more shapes and edge cases of the same contracts, a second training run,
// the ping-pong on communicators where a third rank must stay out, and the fit on awkward data.
#include "lab00_test.hpp"

namespace lab00::test {
namespace {

// ---- linear ----

TEST(Linear, GradientCheckOnMoreShapes) {
  for (const Shape s : {Shape{13, 17, 9}, Shape{1, 30, 1}, Shape{2, 1, 1}, Shape{9, 2, 25}}) gradcheck_linear(s, 21);
}

TEST(Linear, EqualsTheDefinitionOnLargeShapes) {
  // The first layer of dtlab train's MLP on a small batch, and a tall, thin one.
  compare_linear_with_definition(Shape{16, 784, 10}, 22, true);
  compare_linear_with_definition(Shape{257, 3, 2}, 23, true);
  compare_linear_with_definition(Shape{1, 64, 33}, 24, false);
}

TEST(Linear, GradientsOfDifferentCallsAreIndependent) {
  // Two layers in a row with different shapes, as the MLP does: nothing may carry over.
  compare_linear_with_definition(Shape{3, 6, 4}, 25, true);
  compare_linear_with_definition(Shape{3, 4, 6}, 26, true);
  compare_linear_with_definition(Shape{3, 6, 4}, 25, true);
}

// ---- ReLU ----

TEST(Relu, GradientCheckOnMoreShapes) {
  for (const auto& [rows, cols] : {std::pair{1, 300}, std::pair{40, 3}, std::pair{7, 7}}) gradcheck_relu(rows, cols, 27);
}

TEST(Relu, AllZeroOutputsStopEverything) {
  const std::vector<float> y(12, 0.0f);
  auto dy = randn(12, 28);
  relu_backward(ConstMatMap(y.data(), 3, 4), MatMap(dy.data(), 3, 4));
  EXPECT_EQ(dy, std::vector<float>(12, 0.0f));
}

TEST(Relu, PositiveOutputsPassEverything) {
  std::vector<float> y(10);
  for (int i = 0; i < 10; ++i) y[i] = 0.5f + float(i);
  const auto g = randn(10, 29);
  auto dy = g;
  relu_backward(ConstMatMap(y.data(), 2, 5), MatMap(dy.data(), 2, 5));
  EXPECT_EQ(dy, g) << "negative gradients must flow back where the output is positive";
}

// ---- softmax cross-entropy ----

TEST(SoftmaxCrossEntropy, MatchesTheDefinitionOnMoreShapes) {
  check_softmax_ce(1, 1000, 2.0f, 31);
  check_softmax_ce(32, 10, 10.0f, 32);
  check_softmax_ce(3, 2, 0.1f, 33);
}

TEST(SoftmaxCrossEntropy, EqualLogitsGiveLogOfTheClassCount) {
  const int batch = 4, classes = 10;
  const std::vector<float> logits(batch * classes, 3.25f);
  const std::vector<std::int32_t> labels{0, 9, 4, 9};
  std::vector<float> d;
  EXPECT_NEAR(call_softmax_ce(logits, labels, classes, d), std::log(10.0), 1e-5);
  EXPECT_TRUE(close_to(d, softmax_ce_by_definition(logits, labels, classes).dlogits, classes, "dlogits"));
}

TEST(SoftmaxCrossEntropy, StableForExtremeLogits) {
  // Far beyond float's exp range on both sides, and a label on a logit 1e30 below the others.
  const std::vector<float> logits{1e30f, -1e30f, 0.0f, -20000.0f, -20001.0f, -19999.0f};
  const std::vector<std::int32_t> labels{1, 2};
  std::vector<float> d;
  const float loss = call_softmax_ce(logits, labels, 3, d);
  EXPECT_TRUE(std::isfinite(loss)) << "loss " << loss;
  EXPECT_NEAR(loss / 1e30, 1.0 / 1.0, 1e-5) << "row 0 loses 2e30, the mean is 1e30";
  for (float v : d) EXPECT_TRUE(std::isfinite(v)) << "dlogits has " << v;
  EXPECT_TRUE(close_to(d, softmax_ce_by_definition(logits, labels, 3).dlogits, 3, "dlogits"));
}

TEST(SoftmaxCrossEntropy, GradientIsAveragedOverLargeBatches) {
  check_softmax_ce(100, 5, 1.0f, 34);
}

// ---- the whole MLP ----

TEST(MlpGradients, DeeperNetworkAndBatchOfOne) {
  gradcheck_mlp(dtlab::MlpConfig{20, {16, 12, 8}, 5}, 1, 35);
  gradcheck_mlp(dtlab::MlpConfig{9, {}, 3}, 6, 36);  // one linear layer: no ReLU, no dx
  gradcheck_mlp(dtlab::MlpConfig{10, {11}, 7}, 33, 37);
}

TEST(MlpGradients, EqualTheCoreBackwardOnTheTrainingModel) {
  // dtlab train's MLP on a batch of 64: the student's gradients and the core's agree to float
  // rounding, every parameter.
  const dtlab::MlpConfig config{};
  dtlab::Mlp mine(config), core(config);
  mine.init(38);
  core.init(38);
  mine.set_layer_ops(lab00::layer_ops());
  const auto x = randn(64 * 784, 39);
  const auto y = random_labels(64, 10, 40);
  EXPECT_NEAR(mine.forward_backward(x, y), core.forward_backward(x, y), 1e-5);
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < core.num_params(); ++i) {
    worst = std::max(worst, double(std::abs(mine.grads()[i] - core.grads()[i])));
    scale = std::max(scale, double(std::abs(core.grads()[i])));
  }
  EXPECT_LE(worst, 1e-4 * scale) << "largest difference from the core's gradient (largest gradient " << scale << ")";
}

// ---- training ----

TEST(Training, SmallBatchesReach85Percent) {
  // Another model, batch and learning rate: 784-256-10, batch 64, lr 0.05, seed 7 (the reference:
  // 86.6%).
  dtlab::TrainConfig cfg;
  cfg.model.hidden = {256};
  cfg.global_batch = 64;
  cfg.lr = 0.05;
  cfg.seed = 7;
  const double accuracy = accuracy_after_one_epoch(cfg);
  if (accuracy >= 0) {
    EXPECT_GE(accuracy, 0.85) << "test accuracy after one epoch with your backward passes";
  }
}

// ---- ping-pong ----

TEST(PingPong, OnlyRanksZeroAndOneOfTheCommunicatorTalk) {
  const Comm world = Comm::world();
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  // Shifted by one: comm rank 0 is world rank 1, comm rank 1 world rank 2 (with 3 ranks or more),
  // and every other rank must stay silent.
  const int p = world.size();
  const Comm shifted = world.split(0, (world.rank() + p - 1) % p);
  check_pingpong_messages(shifted, {0, 1, 3, 1000003}, 1);
  // Sizes in no particular order are measured in the order given.
  check_pingpong_messages(shifted, {4096, 1, 65536, 4096}, 4);
}

TEST(PingPong, SubCommunicatorOfTwo) {
  const Comm world = Comm::world();
  if (world.size() < 3) GTEST_SKIP() << "needs 3 ranks";
  // World ranks 2 and 0 (in that order) only; the others are not even in the communicator.
  const int r = world.rank();
  const Comm pair = world.split(r == 0 || r == 2 ? 0 : -1, r == 2 ? 0 : 1);
  if (pair.valid()) check_pingpong_messages(pair, {16, 2048}, 3);
  world.barrier();
}

TEST(PingPong, NoSizesNoMessages) {
  const Comm world = Comm::world();
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  check_pingpong_messages(world, {}, 5);
  // A real call afterwards, so that an implementation that only returns early fails.
  check_pingpong_messages(world, {32}, 2);
}

// ---- the fit ----

TEST(Fit, OrderOfSamplesDoesNotMatter) {
  auto s = noisy_samples(3e-6, 5e-11, powers_of_two(4, 1 << 20), 0.1, 41);
  const LineFit sorted = relative_least_squares(s);
  std::reverse(s.begin(), s.end());
  std::swap(s[2], s[7]);
  EXPECT_TRUE(fit_is(fit_alpha_beta(s), sorted, 1e-7));
}

TEST(Fit, SeveralSamplesPerSize) {
  std::vector<Sample> s;
  for (std::uint64_t seed = 0; seed < 5; ++seed) {
    const auto one = noisy_samples(8e-7, 1e-10, {1, 1024, 1 << 20}, 0.3, 42 + seed);
    s.insert(s.end(), one.begin(), one.end());
  }
  EXPECT_TRUE(fit_is(fit_alpha_beta(s), relative_least_squares(s), 1e-7));
}

TEST(Fit, TwoSizesGiveTheLineThroughThem) {
  const std::vector<Sample> s{{1000, 3e-6}, {3000, 7e-6}};  // slope 2e-9 s/B, intercept 1e-6 s
  EXPECT_TRUE(fit_is(fit_alpha_beta(s), {1e-6, 2e-9}, 1e-9));
}

TEST(Fit, HugeSizes) {
  EXPECT_TRUE(fit_is(fit_alpha_beta(exact_samples(1e-5, 4e-11, powers_of_two(1 << 20, std::uint64_t(1) << 34))),
                     {1e-5, 4e-11}, 1e-8));
}

TEST(Fit, NegativeResultsAreReturnedAsTheyAre) {
  // The line through these two points has a negative intercept; the fit says so, and the caller
  // decides what to make of it.
  const std::vector<Sample> s{{1, 1e-6}, {2, 3e-6}};
  EXPECT_TRUE(fit_is(fit_alpha_beta(s), {-1e-6, 2e-6}, 1e-9));
}

TEST(Fit, RejectsTimesThatAreNotPositive) {
  EXPECT_TRUE(throws_error([] { fit_alpha_beta(std::vector<Sample>{{1, 1e-6}, {100, 0.0}}); })) << "0 seconds";
  EXPECT_TRUE(throws_error([] { fit_alpha_beta(std::vector<Sample>{{1, -1e-6}, {100, 2e-6}}); })) << "negative";
  EXPECT_TRUE(throws_error([] { fit_alpha_beta(std::vector<Sample>{{1, NAN}, {100, 2e-6}}); })) << "NaN";
  // And a valid fit still works after them.
  EXPECT_TRUE(fit_is(fit_alpha_beta(exact_samples(1e-6, 1e-9, {1, 100})), {1e-6, 1e-9}, 1e-9));
}

}  // namespace
}  // namespace lab00::test
