// Backward passes against finite differences, layer by layer and for the whole MLP, and proof
// that the check catches the usual mistakes.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>

#include "dtlab/error.hpp"
#include "dtlab/gradcheck.hpp"
#include "dtlab/layers.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/rng.hpp"

namespace dtlab {
namespace {

std::vector<float> randn(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = scale * float(rng.normal());
  return v;
}

constexpr double kTolerance = 2e-2;

// ---- layers: each backward against the finite differences of its forward ----

TEST(LayerGradients, Linear) {
  const int batch = 4, in = 5, out = 3;
  auto x = randn(batch * in, 1), w = randn(out * in, 2), b = randn(out, 3);
  const auto g = randn(batch * out, 4);  // upstream gradient: L = sum(g * y)
  std::vector<float> y(batch * out), dw(out * in), db(out), dx(batch * in);
  MatMap dxm(dx.data(), batch, in);
  linear_backward(ConstMatMap(x.data(), batch, in), ConstMatMap(w.data(), out, in),
                  ConstMatMap(g.data(), batch, out), MatMap(dw.data(), out, in), VecMap(db.data(), out),
                  &dxm);
  auto loss_at = [&](std::span<const float>) {
    linear_forward(ConstMatMap(x.data(), batch, in), ConstMatMap(w.data(), out, in),
                   ConstVecMap(b.data(), out), MatMap(y.data(), batch, out));
    double l = 0;
    for (int i = 0; i < batch * out; ++i) l += double(g[i]) * y[i];
    return l;
  };
  EXPECT_TRUE(check_gradient(loss_at, w, dw).ok(kTolerance));
  EXPECT_TRUE(check_gradient(loss_at, b, db).ok(kTolerance));
  EXPECT_TRUE(check_gradient(loss_at, x, dx).ok(kTolerance));
  // dx = dy w, not dy w^T padded: a wrong dx must fail the same check.
  std::vector<float> wrong(dx);
  wrong[0] += 0.5f;
  EXPECT_FALSE(check_gradient(loss_at, x, wrong).ok(kTolerance));
}

TEST(LayerGradients, Relu) {
  const int batch = 3, n = 6;
  auto z = randn(batch * n, 5);
  for (auto& v : z) v += v > 0 ? 0.2f : -0.2f;  // keep clear of the kink at 0
  const auto g = randn(batch * n, 6);
  std::vector<float> y(z), dy(g);
  relu_forward(MatMap(y.data(), batch, n));
  relu_backward(ConstMatMap(y.data(), batch, n), MatMap(dy.data(), batch, n));
  auto loss_at = [&](std::span<const float> zz) {
    std::vector<float> a(zz.begin(), zz.end());
    relu_forward(MatMap(a.data(), batch, n));
    double l = 0;
    for (int i = 0; i < batch * n; ++i) l += double(g[i]) * a[i];
    return l;
  };
  EXPECT_TRUE(check_gradient(loss_at, z, dy).ok(kTolerance));
  EXPECT_FALSE(check_gradient(loss_at, z, g).ok(kTolerance)) << "the unmasked gradient must fail";
}

TEST(LayerGradients, SoftmaxCrossEntropy) {
  const int batch = 5, classes = 4;
  auto logits = randn(batch * classes, 7, 3.0f);
  const std::vector<std::int32_t> labels{0, 3, 1, 1, 2};
  std::vector<float> d(batch * classes);
  const float loss = softmax_cross_entropy(ConstMatMap(logits.data(), batch, classes), labels,
                                           MatMap(d.data(), batch, classes));
  auto loss_at = [&](std::span<const float> l) {
    return double(softmax_cross_entropy_loss(ConstMatMap(l.data(), batch, classes), labels));
  };
  EXPECT_NEAR(loss, loss_at(logits), 1e-6);
  EXPECT_TRUE(check_gradient(loss_at, logits, d, 1e-2).ok(kTolerance));
  // Forgetting the 1/batch of the mean is caught.
  std::vector<float> unscaled(d);
  for (auto& v : unscaled) v *= batch;
  EXPECT_FALSE(check_gradient(loss_at, logits, unscaled).ok(kTolerance));
}

TEST(LayerGradients, SoftmaxIsStableForHugeLogits) {
  std::vector<float> logits{1000.0f, -1000.0f, 999.0f}, d(3);
  const std::vector<std::int32_t> label{2};
  const float loss = softmax_cross_entropy(ConstMatMap(logits.data(), 1, 3), label, MatMap(d.data(), 1, 3));
  EXPECT_NEAR(loss, std::log1p(std::exp(-1.0)) + 1.0, 1e-4);
  for (float v : d) EXPECT_TRUE(std::isfinite(v));
}

// ---- the whole MLP ----

struct Batch {
  std::vector<float> x;
  std::vector<std::int32_t> y;
};

Batch random_batch(int n, int inputs, int classes, std::uint64_t seed) {
  Batch b{randn(std::size_t(n) * inputs, seed), std::vector<std::int32_t>(n)};
  Rng rng(seed + 1);
  for (auto& v : b.y) v = std::int32_t(rng.below(classes));
  return b;
}

double mean_loss(Mlp& m, const Batch& b) {
  return m.evaluate(b.x, b.y).loss_sum / double(b.y.size());
}

// A small MLP with random biases too: with the zero biases of init(), a sample that silences every
// unit of a layer puts the next layer exactly on ReLU's kink, where no finite difference agrees
// with any subgradient.
Mlp checkable_mlp() {
  Mlp m(MlpConfig{12, {8, 6}, 4});
  m.init(3);
  Rng rng(99);
  for (float& p : m.params()) p += 0.1f * float(rng.normal());
  return m;
}

TEST(MlpGradients, MatchFiniteDifferences) {
  Mlp m = checkable_mlp();
  const Batch b = random_batch(7, 12, 4, 11);
  m.forward_backward(b.x, b.y);
  const std::vector<float> grads(m.grads().begin(), m.grads().end());
  auto loss_at = [&](std::span<const float>) { return mean_loss(m, b); };
  const GradCheckResult r = check_gradient(loss_at, m.params(), grads, 1e-3, 0, 1e-2);
  EXPECT_TRUE(r.ok(kTolerance)) << r.describe();
  EXPECT_EQ(r.checked, m.num_params());
}

TEST(MlpGradients, CheckCatchesWrongGradients) {
  Mlp m = checkable_mlp();
  const Batch b = random_batch(7, 12, 4, 11);
  m.forward_backward(b.x, b.y);
  const std::vector<float> right(m.grads().begin(), m.grads().end());
  auto loss_at = [&](std::span<const float>) { return mean_loss(m, b); };
  const auto& first = m.layers().front();
  const auto& last = m.layers().back();

  std::vector<float> no_mean(right);  // summed over the batch instead of averaged
  for (auto& g : no_mean) g *= 7;
  std::vector<float> no_bias(right);  // bias gradients never written
  std::fill(no_bias.begin() + last.bias, no_bias.begin() + last.end(), 0.0f);
  std::vector<float> stopped(right);  // backward stopped before the first layer
  std::fill(stopped.begin() + first.begin(), stopped.begin() + first.end(), 0.0f);
  std::vector<float> sign(right);     // gradient of -loss
  for (auto& g : sign) g = -g;
  for (const auto* wrong : {&no_mean, &no_bias, &stopped, &sign})
    EXPECT_FALSE(check_gradient(loss_at, m.params(), *wrong, 1e-3, 0, 1e-2).ok(kTolerance));
}

TEST(MlpGradients, GradReadyRunsLastLayerFirstWithFinalGradients) {
  Mlp m(MlpConfig{10, {6, 5}, 3});
  m.init(1);
  const Batch b = random_batch(4, 10, 3, 2);
  std::vector<int> order;
  std::vector<std::vector<float>> seen;
  m.forward_backward(b.x, b.y, [&](int l) {
    order.push_back(l);
    const auto& s = m.layers()[l];
    seen.emplace_back(m.grads().begin() + s.begin(), m.grads().begin() + s.end());
  });
  EXPECT_EQ(order, (std::vector<int>{2, 1, 0}));
  for (int i = 0; i < 3; ++i) {  // nothing changed a layer's gradients after it was announced
    const auto& s = m.layers()[order[i]];
    EXPECT_TRUE(std::equal(seen[i].begin(), seen[i].end(), m.grads().begin() + s.begin()));
  }
}

// accumulate adds this batch's gradient to what grads() holds, as PyTorch's .grad does: two
// passes give the sum of the two gradients, and grad_ready announces the accumulated values.
TEST(MlpGradients, AccumulateAddsToTheHeldGradients) {
  Mlp m = checkable_mlp();
  const Batch a = random_batch(5, 12, 4, 21), b = random_batch(3, 12, 4, 22);
  m.forward_backward(a.x, a.y);
  const std::vector<float> ga(m.grads().begin(), m.grads().end());
  m.forward_backward(b.x, b.y);
  const std::vector<float> gb(m.grads().begin(), m.grads().end());
  m.forward_backward(a.x, a.y);
  float first_seen = 0;
  m.forward_backward(b.x, b.y, [&](int l) { if (l == 0) first_seen = m.grads()[0]; }, true);
  for (std::size_t i = 0; i < ga.size(); ++i) ASSERT_NEAR(m.grads()[i], ga[i] + gb[i], 1e-6f) << i;
  EXPECT_NEAR(first_seen, ga[0] + gb[0], 1e-6f);
}

// The backward passes are swappable (Lab 00 trains with the students'): the MLP calls the ones set.
TEST(Mlp, CallsTheBackwardPassesItIsGiven) {
  static int calls = 0;
  LayerOps ops;
  ops.relu_backward = [](ConstMatMap y, MatMap dy) {
    ++calls;
    relu_backward(y, dy);
  };
  Mlp m = checkable_mlp();
  m.set_layer_ops(ops);
  const Batch b = random_batch(5, 12, 4, 21);
  m.forward_backward(b.x, b.y);
  EXPECT_EQ(calls, 2);  // one per hidden layer
}

TEST(Mlp, LayoutIsFlatWeightThenBiasPerLayer) {
  Mlp m(MlpConfig{784, {512, 256}, 10});
  EXPECT_EQ(m.num_params(), 784u * 512 + 512 + 512 * 256 + 256 + 256 * 10 + 10);
  std::size_t at = 0;
  for (const auto& s : m.layers()) {
    EXPECT_EQ(s.weight, at);
    EXPECT_EQ(s.bias, at + std::size_t(s.in) * s.out);
    at = s.end();
  }
  EXPECT_EQ(at, m.num_params());
  EXPECT_EQ(m.config().describe(), "784-512-256-10");
  EXPECT_DOUBLE_EQ(m.forward_flops(), 2.0 * (784 * 512 + 512 * 256 + 256 * 10));
}

TEST(Mlp, InitIsSeededAndHeUniform) {
  Mlp a(MlpConfig{100, {50}, 10}), b(MlpConfig{100, {50}, 10}), c(MlpConfig{100, {50}, 10});
  a.init(5);
  b.init(5);
  c.init(6);
  EXPECT_TRUE(std::equal(a.params().begin(), a.params().end(), b.params().begin()));
  EXPECT_FALSE(std::equal(a.params().begin(), a.params().end(), c.params().begin()));
  const auto& l0 = a.layers()[0];
  const float bound = std::sqrt(6.0f / 100);
  for (std::size_t i = l0.weight; i < l0.bias; ++i) EXPECT_LE(std::abs(a.params()[i]), bound);
  for (std::size_t i = l0.bias; i < l0.end(); ++i) EXPECT_EQ(a.params()[i], 0.0f);
}

TEST(Mlp, RejectsBadBatches) {
  Mlp m(MlpConfig{4, {3}, 2});
  std::vector<float> x(8);
  EXPECT_THROW(m.forward_backward(x, std::vector<std::int32_t>{0, 1, 1}), Error);  // 3 labels, 2 rows
  EXPECT_THROW(m.forward_backward(x, std::vector<std::int32_t>{0, 2}), Error);     // label 2 of 2 classes
  EXPECT_THROW(Mlp(MlpConfig{4, {0}, 2}), Error);
}

}  // namespace
}  // namespace dtlab
