// Optimizers against the update rules written out in double precision, and the schedules.
#include <gtest/gtest.h>

#include <cmath>

#include "dtlab/error.hpp"
#include "dtlab/optim.hpp"
#include "dtlab/rng.hpp"

namespace dtlab {
namespace {

std::vector<float> random_vec(std::size_t n, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(rng.normal());
  return v;
}

// torch.optim.SGD, one parameter at a time, in double.
struct SgdOracle {
  double mu, wd;
  bool nesterov;
  std::vector<double> p, buf;
  int t = 0;
  void step(const std::vector<float>& g, double lr, double scale) {
    for (std::size_t i = 0; i < p.size(); ++i) {
      double d = scale * g[i] + wd * p[i];
      if (mu != 0) {
        buf[i] = t == 0 ? d : mu * buf[i] + d;
        d = nesterov ? d + mu * buf[i] : buf[i];
      }
      p[i] -= lr * d;
    }
    ++t;
  }
};

TEST(Sgd, MatchesTorchUpdateRule) {
  for (const bool nesterov : {false, true})
    for (const double mu : {0.0, 0.9}) {
      if (nesterov && mu == 0) continue;
      const std::size_t n = 257;
      auto p = random_vec(n, 1);
      SgdOracle oracle{mu, 1e-2, nesterov, std::vector<double>(p.begin(), p.end()), std::vector<double>(n)};
      auto opt = make_optimizer({.name = "sgd", .momentum = mu, .nesterov = nesterov, .weight_decay = 1e-2}, n);
      for (int s = 0; s < 6; ++s) {
        const auto g = random_vec(n, 100 + s);
        const double lr = 0.05 * (s + 1);
        opt->step(p, g, lr, 0.5f);
        oracle.step(g, lr, 0.5);
      }
      for (std::size_t i = 0; i < n; ++i)
        EXPECT_NEAR(p[i], oracle.p[i], 1e-5 * (1 + std::abs(oracle.p[i])))
            << "nesterov " << nesterov << " momentum " << mu << " at " << i;
      EXPECT_EQ(opt->steps(), 6);
    }
}

TEST(Adam, MatchesTorchUpdateRules) {
  for (const std::string name : {"adam", "adamw"}) {
    const std::size_t n = 100;
    auto p = random_vec(n, 2);
    std::vector<double> q(p.begin(), p.end()), m(n), v(n);
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    auto opt = make_optimizer({.name = name, .weight_decay = wd, .beta1 = b1, .beta2 = b2, .eps = eps}, n);
    for (int t = 1; t <= 5; ++t) {
      const auto g = random_vec(n, 200 + t);
      const double lr = 1e-2;
      opt->step(p, g, lr);
      for (std::size_t i = 0; i < n; ++i) {
        double gi = g[i];
        if (name == "adam") gi += wd * q[i];
        else q[i] *= 1 - lr * wd;
        m[i] = b1 * m[i] + (1 - b1) * gi;
        v[i] = b2 * v[i] + (1 - b2) * gi * gi;
        const double mhat = m[i] / (1 - std::pow(b1, t)), vhat = v[i] / (1 - std::pow(b2, t));
        q[i] -= lr * mhat / (std::sqrt(vhat) + eps);
      }
    }
    for (std::size_t i = 0; i < n; ++i) EXPECT_NEAR(p[i], q[i], 1e-5 * (1 + std::abs(q[i]))) << name;
  }
}

TEST(Adam, FirstStepMovesEveryParameterByTheLearningRate) {
  // Bias correction makes the first update lr * sign(g), whatever the gradient's size.
  auto opt = make_optimizer({.name = "adam"}, 3);
  std::vector<float> p{0, 0, 0}, g{1e-3f, -50.0f, 7.0f};
  opt->step(p, g, 0.01);
  EXPECT_NEAR(p[0], -0.01, 1e-6);
  EXPECT_NEAR(p[1], 0.01, 1e-6);
  EXPECT_NEAR(p[2], -0.01, 1e-6);
}

TEST(Optimizer, StateBuffersCoverEveryParameter) {
  auto sgd = make_optimizer({.name = "sgd"}, 10);
  ASSERT_EQ(sgd->state().size(), 1u);
  EXPECT_EQ(sgd->state()[0].second.size(), 10u);
  auto adam = make_optimizer({.name = "adamw"}, 10);
  EXPECT_EQ(adam->state().size(), 2u);
}

TEST(Optimizer, RejectsBadSettings) {
  EXPECT_THROW(make_optimizer({.name = "lamb"}, 1), Error);
  EXPECT_THROW(make_optimizer({.name = "sgd", .momentum = 1.5}, 1), Error);
  EXPECT_THROW(make_optimizer({.name = "sgd", .momentum = 0, .nesterov = true}, 1), Error);
  EXPECT_THROW(make_optimizer({.name = "adam", .beta2 = 1.0}, 1), Error);
  EXPECT_THROW(make_optimizer({.name = "sgd", .weight_decay = -1}, 1), Error);
}

TEST(LrSchedule, CosineWithWarmup) {
  const LrSchedule s(0.4, {.kind = "cosine", .warmup_steps = 10, .total_steps = 110, .min_lr_ratio = 0.25});
  EXPECT_DOUBLE_EQ(s.lr(0), 0.04);   // warmup: lr * (step + 1) / warmup
  EXPECT_DOUBLE_EQ(s.lr(4), 0.2);
  EXPECT_DOUBLE_EQ(s.lr(10), 0.4);   // peak right after warmup
  EXPECT_NEAR(s.lr(60), 0.25, 1e-12);  // halfway: (peak + min) / 2 = (0.4 + 0.1) / 2
  EXPECT_NEAR(s.lr(110), 0.1, 1e-12);
  EXPECT_NEAR(s.lr(500), 0.1, 1e-12);  // stays at the minimum
  for (int t = 11; t < 110; ++t) EXPECT_LT(s.lr(t), s.lr(t - 1));
}

TEST(LrSchedule, StepAndConstant) {
  const LrSchedule step(1.0, {.kind = "step", .step_size = 3, .gamma = 0.5});
  EXPECT_DOUBLE_EQ(step.lr(2), 1.0);
  EXPECT_DOUBLE_EQ(step.lr(3), 0.5);
  EXPECT_DOUBLE_EQ(step.lr(7), 0.25);
  const LrSchedule c(0.3, {.kind = "constant"});
  EXPECT_DOUBLE_EQ(c.lr(0), 0.3);
  EXPECT_DOUBLE_EQ(c.lr(100000), 0.3);
}

TEST(LrSchedule, RejectsBadSettings) {
  EXPECT_THROW(LrSchedule(0.1, {.kind = "exp"}), Error);
  EXPECT_THROW(LrSchedule(-0.1, {.kind = "constant"}), Error);
  EXPECT_THROW(LrSchedule(0.1, {.kind = "cosine", .warmup_steps = 10, .total_steps = 10}), Error);
  EXPECT_THROW(LrSchedule(0.1, {.kind = "step", .step_size = 0}), Error);
}

}  // namespace
}  // namespace dtlab
