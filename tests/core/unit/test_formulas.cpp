// The course's formulas against hand calculations and against each other's limits.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>
#include <utility>
#include <vector>

#include "dtlab/costmodel.hpp"
#include "dtlab/error.hpp"
#include "dtlab/formulas.hpp"
#include "dtlab/optim.hpp"

namespace dtlab {
namespace {

TEST(Formulas, CollectivesMatchHandCalculations) {
  // 8 ranks, 1 GB, 5 us, 10 GB/s: 2*7 latencies + 2*(7/8)*1e9 bytes at 1e-10 s/B.
  EXPECT_NEAR(evaluate("ring_allreduce_time", {{"p", 8}, {"bytes", 1e9}, {"alpha", 5e-6}, {"beta", 1e-10}}),
              14 * 5e-6 + 2 * 0.875 * 0.1, 1e-12);
  // Recursive doubling sends the whole vector log2(8) = 3 times: 3 * (5e-6 + 0.1).
  EXPECT_NEAR(evaluate("recursive_doubling_allreduce_time", {{"p", 8}, {"bytes", 1e9}, {"alpha", 5e-6}, {"beta", 1e-10}}),
              3 * (5e-6 + 0.1), 1e-12);
  // The library allreduce is priced as the cheaper of the two: recursive doubling for small n.
  const FormulaArgs small{{"p", 8}, {"bytes", 64}, {"alpha", 5e-6}, {"beta", 1e-10}};
  EXPECT_EQ(evaluate("best_allreduce_time", small), evaluate("recursive_doubling_allreduce_time", small));
  EXPECT_NEAR(evaluate("busbw", {{"p", 4}, {"bytes", 1e9}, {"seconds", 0.5}}), 2e9 * 1.5, 1);
  EXPECT_NEAR(evaluate("half_bandwidth_bytes", {{"alpha", 5e-6}, {"beta", 1e-10}}), 50000, 1e-6);
  EXPECT_NEAR(evaluate("ring_allreduce_bytes_sent", {{"p", 4}, {"bytes", 1000}}), 1500, 1e-9);
  // Parameter servers: 16 workers, 4 servers, 100 MB: each server moves 2 * 16 * 100 MB / 4.
  EXPECT_NEAR(evaluate("ps_server_bytes", {{"workers", 16}, {"servers", 4}, {"bytes", 1e8}}), 8e8, 1e-3);
}

TEST(Formulas, TrainingFormulasMatchHandCalculations) {
  EXPECT_NEAR(evaluate("pipeline_bubble_fraction", {{"p", 4}, {"m", 16}}), 3.0 / 19.0, 1e-15);
  EXPECT_EQ(evaluate("pipeline_bubble_fraction", {{"p", 1}, {"m", 8}}), 0.0);  // one stage: no bubble
  // Top-1% of 1e6 values, 32-bit values and indices: 10,000 * 8 bytes.
  EXPECT_EQ(evaluate("topk_bytes", {{"n", 1e6}, {"ratio", 0.01}}), 80000);
  EXPECT_NEAR(evaluate("topk_compression_ratio", {{"ratio", 0.01}}), 50, 1e-9);
  EXPECT_EQ(evaluate("sign_bytes", {{"n", 80}}), 14);  // 10 bytes of signs + a 4-byte scale
  // ZeRO on one GPU is plain mixed-precision Adam at every stage; stage 3 divides everything.
  for (int stage = 0; stage <= 3; ++stage)
    EXPECT_NEAR(evaluate("zero_bytes_per_gpu", {{"params", 1e9}, {"gpus", 1}, {"stage", double(stage)}}), 16e9, 1)
        << "stage " << stage;
  EXPECT_NEAR(evaluate("zero_bytes_per_gpu", {{"params", 1e9}, {"gpus", 64}, {"stage", 3}}), 16e9 / 64, 1);
  EXPECT_NEAR(evaluate("linear_scaling_lr", {{"lr0", 0.1}, {"batch0", 256}, {"batch", 8192}}), 3.2, 1e-12);
  EXPECT_NEAR(evaluate("young_checkpoint_interval", {{"checkpoint_cost", 60}, {"mtbf", 86400}}),
              std::sqrt(2.0 * 60 * 86400), 1e-9);
  EXPECT_NEAR(evaluate("failure_probability", {{"nodes", 1000}, {"duration", 86400}, {"node_mtbf", 1000 * 86400.0}}),
              1 - std::exp(-1.0), 1e-12);
  EXPECT_NEAR(evaluate("expected_max_exponential", {{"t", 1}, {"workers", 3}}), 1 + 0.5 + 1.0 / 3, 1e-12);
  EXPECT_EQ(evaluate("loss_scale_needed", {{"gradient", std::exp2(-30)}}), 64);  // 2^-30 * 2^6 = 2^-24
  EXPECT_NEAR(evaluate("amdahl_speedup", {{"serial", 0.05}, {"p", 1e9}}), 20, 1e-6);  // the 1/s ceiling
}

TEST(Formulas, TheDelayBoundSeparatesConvergenceFromDivergence) {
  const auto bound = [](double tau) { return evaluate("async_delay_lr_bound", {{"staleness", tau}}); };
  EXPECT_NEAR(bound(0), 2, 1e-15);  // no delay: x <- (1 - a) x converges for a < 2
  EXPECT_NEAR(bound(1), 1, 1e-15);  // z^2 - z + a = 0 has its roots inside the unit circle for a < 1
  EXPECT_NEAR(bound(3), 2 * std::sin(std::numbers::pi / 14), 1e-15);  // Lab 05's 0.445
  // The equation itself, x_{t+1} = x_t - a x_{t-tau} from x = 1 everywhere: 5% under the bound it
  // dies out, 5% over it grows.
  for (int tau : {1, 2, 3, 7}) {
    const auto run = [tau](double a) {
      std::vector<double> x(std::size_t(tau) + 1, 1.0);
      for (int t = 0; t < 20000 && std::abs(x.back()) < 1e6; ++t)
        x.push_back(x.back() - a * x[x.size() - 1 - std::size_t(tau)]);
      return std::abs(x.back()) + std::abs(x[x.size() - 2]);
    };
    EXPECT_LT(run(0.95 * bound(tau)), 1e-3) << "tau " << tau;
    EXPECT_GT(run(1.05 * bound(tau)), 1e3) << "tau " << tau;
  }
  EXPECT_THROW(evaluate("async_delay_lr_bound", {{"staleness", -1}}), Error);
  EXPECT_THROW(evaluate("async_delay_lr_bound", {{"staleness", 1.5}}), Error);
}

// The gossip mixing matrix built from its definition, as Lab 05's test builds it: rank r averages
// itself and its distinct neighbours on a rows x cols torus (rows = 1: a ring).
std::vector<std::vector<double>> mixing_matrix(int rows, int cols) {
  const int p = rows * cols;
  std::vector<std::vector<double>> w(std::size_t(p), std::vector<double>(std::size_t(p), 0.0));
  for (int r = 0; r < p; ++r) {
    const int row = r / cols, col = r % cols;
    std::vector<int> n = {((row + rows - 1) % rows) * cols + col, ((row + 1) % rows) * cols + col,
                          row * cols + (col + cols - 1) % cols, row * cols + (col + 1) % cols};
    std::sort(n.begin(), n.end());
    n.erase(std::unique(n.begin(), n.end()), n.end());
    n.erase(std::remove(n.begin(), n.end(), r), n.end());
    w[std::size_t(r)][std::size_t(r)] = 1.0 / double(n.size() + 1);
    for (int j : n) w[std::size_t(r)][std::size_t(j)] = 1.0 / double(n.size() + 1);
  }
  return w;
}

// |lambda_2| by power iteration on W with the mean removed: the factor by which the distance to the
// mean shrinks per step once the slower modes dominate.
double power_lambda2(const std::vector<std::vector<double>>& w) {
  const std::size_t p = w.size();
  std::vector<double> x(p);
  for (std::size_t i = 0; i < p; ++i) x[i] = std::sin(1.0 + 3.7 * double(i));  // no symmetry to hide a mode
  double rate = 0;
  for (int step = 0; step < 3000; ++step) {
    double mean = 0, before = 0, after = 0;
    for (double v : x) mean += v / double(p);
    for (double& v : x) v -= mean;
    std::vector<double> y(p, 0.0);
    for (std::size_t r = 0; r < p; ++r)
      for (std::size_t j = 0; j < p; ++j) y[r] += w[r][j] * x[j];
    for (std::size_t i = 0; i < p; ++i) before += x[i] * x[i], after += y[i] * y[i];
    rate = std::sqrt(after / before);
    for (std::size_t i = 0; i < p; ++i) x[i] = y[i] / std::sqrt(after);
  }
  return rate;
}

TEST(Formulas, GossipLambda2IsTheMixingMatrixsSecondEigenvalue) {
  const auto ring = [](double p) { return evaluate("gossip_ring_lambda2", {{"p", p}}); };
  const auto torus = [](double rows, double cols) {
    return evaluate("gossip_torus_lambda2", {{"rows", rows}, {"cols", cols}});
  };
  EXPECT_NEAR(ring(16), (1 + 2 * std::cos(std::numbers::pi / 8)) / 3, 1e-15);  // 0.9493
  EXPECT_NEAR(ring(9), 0.8440, 5e-5);   // the lab's table
  EXPECT_NEAR(torus(3, 3), 0.4, 1e-15);
  EXPECT_NEAR(torus(4, 4), 0.6, 1e-15);  // +0.6 and -0.6 both
  EXPECT_NEAR(torus(8, 8), (3 + std::sqrt(2.0)) / 5, 1e-15);
  EXPECT_EQ(ring(1), 0);                      // nobody to disagree with
  EXPECT_NEAR(ring(2), 0, 1e-15);             // one neighbour: one step averages exactly
  EXPECT_NEAR(ring(3), 0, 1e-15);             // everyone is everyone's neighbour
  EXPECT_EQ(torus(1, 7), ring(7));            // a torus of one row is a ring
  // Every size whose lambda_2 is not 0 (power iteration needs something left to measure).
  const std::vector<std::pair<int, int>> sizes = {{1, 16}, {1, 9}, {1, 5}, {4, 4}, {3, 3}, {2, 4}, {3, 5}, {2, 2}};
  for (const auto& [rows, cols] : sizes)
    EXPECT_NEAR(torus(rows, cols), power_lambda2(mixing_matrix(rows, cols)), 1e-6) << rows << " x " << cols;
  EXPECT_THROW(ring(0), Error);
  EXPECT_THROW(torus(4, 2.5), Error);
}

TEST(Formulas, CosineLrIsDtlabTrainsSchedule) {
  // 10 epochs of 10 steps, 1 epoch of warmup: lr/10, 2 lr/10, ..., lr at step 9, then a cosine over
  // the 90 remaining steps: half way (step 55) lr/2, and 0 from step 100 on.
  const auto lr = [](double step, double warmup_epochs = 1, double min_lr_ratio = 0) {
    return evaluate("cosine_lr", {{"lr", 0.4}, {"step", step}, {"epochs", 10}, {"steps_per_epoch", 10},
                                  {"warmup_epochs", warmup_epochs}, {"min_lr_ratio", min_lr_ratio}});
  };
  EXPECT_NEAR(lr(0), 0.04, 1e-15);
  EXPECT_NEAR(lr(9), 0.4, 1e-15);
  EXPECT_NEAR(lr(10), 0.4, 1e-15);
  EXPECT_NEAR(lr(55), 0.2, 1e-15);
  EXPECT_NEAR(lr(100), 0.0, 1e-15);
  EXPECT_NEAR(lr(100, 1, 0.25), 0.1, 1e-15);  // min_lr = min_lr_ratio lr
  // Warmup epochs become whole steps as dtlab train rounds them: 0.55 epochs of 10 steps = 6 steps.
  EXPECT_NEAR(lr(0, 0.55), 0.4 / 6, 1e-15);
  // The warmup is warmup_lr's, and the whole curve is LrSchedule's, bit for bit.
  EXPECT_EQ(lr(3), evaluate("warmup_lr", {{"lr", 0.4}, {"step", 3}, {"warmup", 10}}));
  ScheduleConfig sc;
  sc.kind = "cosine";
  sc.warmup_steps = 29;
  sc.total_steps = 580;
  const LrSchedule schedule(0.4, sc);
  for (int step = 0; step < 600; step += 7)
    EXPECT_EQ(evaluate("cosine_lr", {{"lr", 0.4}, {"step", double(step)}, {"epochs", 10}, {"steps_per_epoch", 58},
                                     {"warmup_epochs", 0.5}}),
              schedule.lr(step))
        << "step " << step;
  // Without warmup_epochs, dtlab train's default (0.5 epochs).
  EXPECT_EQ(evaluate("cosine_lr", {{"lr", 0.4}, {"step", 0}, {"epochs", 10}, {"steps_per_epoch", 58}}), 0.4 / 29);
  EXPECT_THROW(evaluate("cosine_lr", {{"lr", 0.4}, {"step", 0}, {"epochs", 0}, {"steps_per_epoch", 58}}), Error);
}

TEST(Formulas, ArgumentsAreCheckedByName) {
  auto message = [](const std::string& name, const FormulaArgs& a) {
    try {
      evaluate(name, a);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message("ring_allreduce_tyme", {}).find("unknown formula 'ring_allreduce_tyme' (did you mean "), std::string::npos);
  EXPECT_NE(message("ring_allreduce_tyme", {}).find("ring_allreduce_time"), std::string::npos);
  EXPECT_NE(message("pipeline_bubble_fraction", {{"p", 4}}).find("missing parameter 'm'"), std::string::npos);
  EXPECT_NE(message("pipeline_bubble_fraction", {{"p", 4}, {"m", 1}, {"q", 2}}).find("no parameter 'q'"),
            std::string::npos);
  EXPECT_NE(message("pipeline_bubble_fraction", {{"p", 4}, {"m", NAN}}).find("not a finite number"), std::string::npos);
  // Optional parameters have defaults and can be given.
  EXPECT_EQ(evaluate("topk_bytes", {{"n", 100}, {"ratio", 0.1}, {"index_bits", 0}}), 40);
}

TEST(Formulas, CalculateTakesAFormulaCallOrArithmetic) {
  const double ring = evaluate("ring_allreduce_time", {{"p", 8}, {"bytes", 1e9}, {"alpha", 5e-6}, {"beta", 1e-10}});
  EXPECT_EQ(calculate("ring_allreduce_time p=8 bytes=1e9 alpha=5e-6 beta=1e-10"), ring);
  EXPECT_DOUBLE_EQ(calculate("2 * ring_allreduce_time(p=8, bytes=1e9, alpha=5e-6, beta=1e-10) + 1"), 2 * ring + 1);
  EXPECT_DOUBLE_EQ(calculate("ring_allreduce_time(p = 8, bytes = 1e9, alpha = 5e-6, beta = 1e-10)"), ring);
  EXPECT_EQ(calculate("ceil(60000/7) - floor(60000/7) + round(2.5) + 2^10"), 1 + 3 + 1024);
  EXPECT_TRUE(is_formula_call("sign_bytes n=80"));
  EXPECT_FALSE(is_formula_call("sign_bytes(n=80)"));
  for (const char* bad : {"1 +", "1/0", "foo(p=1)", "ring_allreduce_time(p=8)", "foo x=1", "sqrt(-1)"})
    EXPECT_THROW(calculate(bad), Error) << bad;
}

TEST(Formulas, EveryFormulaIsDescribedAndNamesAreUnique) {
  std::string last;
  for (const auto& f : formulas()) {
    EXPECT_FALSE(f.description.empty()) << f.name;
    EXPECT_FALSE(f.unit.empty()) << f.name;
    EXPECT_LT(last, f.name) << "sorted and unique";
    last = f.name;
  }
  EXPECT_GE(formulas().size(), 40u);
}

}  // namespace
}  // namespace dtlab
