// Data-parallel training against its oracle, single-process training on the global batch; and
// checkpoint/resume against a run that never stopped.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "dtlab/baseline.hpp"
#include "dtlab/comm.hpp"
#include "dtlab/data.hpp"
#include "dtlab/error.hpp"
#include "dtlab/checkpoint.hpp"
#include "dtlab/train.hpp"
#include "test_util.hpp"

namespace dtlab {
namespace {

namespace fs = std::filesystem;

TrainConfig small_config(std::int64_t global_batch) {
  TrainConfig cfg;
  cfg.model = MlpConfig{32, {24, 16}, 10};
  cfg.global_batch = global_batch;
  cfg.epochs = 3;
  cfg.max_steps = 50;
  cfg.seed = 11;
  cfg.lr = 0.05;
  cfg.progress = false;
  cfg.evaluate = false;
  return cfg;
}

const DataSplit& synthetic() {
  static const DataSplit d = make_synthetic({.train = 1680, .test = 200, .features = 32, .noise = 0.3, .seed = 5});
  return d;
}

// A communicator of this rank alone, for the single-process oracle.
Comm self() { return Comm::world().split(Comm::world().rank(), 0); }

// Every rank holds the same bits: compare hashes of the parameters.
void expect_identical_on_all_ranks(const Comm& c, std::span<const float> params) {
  std::vector<std::int64_t> hashes(std::size_t(c.size()));
  const std::vector<std::int64_t> mine{std::int64_t(test::fnv1a(params))};
  baseline::allgather(c, std::span<const std::int64_t>(mine), std::span<std::int64_t>(hashes));
  for (int r = 0; r < c.size(); ++r) EXPECT_EQ(hashes[r], hashes[0]) << "rank " << r << " differs from rank 0";
}

TEST(DataParallel, EqualsSingleProcessOnTheGlobalBatch) {
  const Comm world = Comm::world();
  // 48 is a multiple of every rank count the suite uses (1, 2, 3, 4).
  for (const char* opt : {"sgd", "adam"}) {
    TrainConfig cfg = small_config(48);
    cfg.optimizer.name = opt;
    cfg.lr = std::string(opt) == "adam" ? 1e-3 : 0.05;
    Mlp oracle(cfg.model);
    SingleProcess single;
    train(cfg, synthetic(), self(), single, oracle);

    Mlp model(cfg.model);
    AllreduceDataParallel dp;
    const TrainResult res = train(cfg, synthetic(), world, dp, model);
    EXPECT_EQ(res.steps, 50);
    SCOPED_TRACE(opt);
    test::expect_close(model.params(), oracle.params(), 1e-5);
    expect_identical_on_all_ranks(world, model.params());
  }
}

// Gradient accumulation: m backward passes on m slices of the local batch, then one step, is the
// step on the whole batch (up to summation order), and only divisors of the local batch are taken.
TEST(DataParallel, MicroBatchesAccumulateToTheWholeBatch) {
  const Comm world = Comm::world();
  TrainConfig cfg = small_config(48);
  cfg.max_steps = 20;
  Mlp whole(cfg.model);
  AllreduceDataParallel dp;
  train(cfg, synthetic(), world, dp, whole);
  const std::int64_t local = 48 / world.size();
  for (const int m : {2, 3}) {
    cfg.micro_batches = m;
    Mlp model(cfg.model);
    AllreduceDataParallel dp2;
    if (local % m != 0) {
      EXPECT_THROW(train(cfg, synthetic(), world, dp2, model), Error) << m << " micro-batches of " << local;
      continue;
    }
    train(cfg, synthetic(), world, dp2, model);
    SCOPED_TRACE(testing::Message() << m << " micro-batches");
    test::expect_close(model.params(), whole.params(), 1e-5);
    expect_identical_on_all_ranks(world, model.params());
  }
}

// The parameters a checkpoint holds.
std::vector<float> params_of(const fs::path& checkpoint, const TrainConfig& cfg) {
  Mlp m(cfg.model);
  const auto opt = make_optimizer(cfg.optimizer, m.params().size());
  load_checkpoint(checkpoint, m, *opt);
  return {m.params().begin(), m.params().end()};
}

// Every step of data-parallel training on the real job must be the single-process step on the
// global batch. Compared per step from a shared state, not after 50 steps: over many steps two
// correct runs drift apart by far more than rounding (SGD on this model amplifies a change in the
// last bit of the gradient step after step, and how much depends on the machine's SIMD width:
// after 50 steps 8e-4 of the norm with AVX2 kernels, 1e-7 with AVX-512). From a shared state the
// two steps differ only in the rounding of the gradient: the same 512 per-sample terms summed in
// another grouping (per rank, then across ranks), inside GEMMs of inner dimension at most 784.
// Two float sums of k terms differ by at most 2*gamma_k*sum|terms|, gamma_k = k*u/(1 - k*u),
// u = 2^-24: 9.4e-5 for k = 784, of the terms' magnitude. Backward chains three such products;
// 1e-3 of the largest change a step makes leaves a margin of 3x over 3*9.4e-5, plus one rounding
// of the parameter itself when the step is added (2^-23 of it). That still catches any real
// mistake (a missing rank's gradient, a sum instead of a mean, a skipped step), which changes the
// step by 1/p of itself or more. Measured: 5e-6 of the step at worst (one last bit), on 2 and 8 ranks.
TEST(DataParallel, FashionMnistEveryStepIsTheSingleProcessStepOnTheGlobalBatch) {
  const fs::path dir = default_fashion_mnist_dir();
  if (!fs::exists(dir / "train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST is not installed at " << dir << " (./dtlab setup installs it)";
  const Comm world = Comm::world();
  const DataSplit data = load_fashion_mnist(dir);
  TrainConfig cfg;  // the defaults of `dtlab train`: 784-512-256-10, global batch 512, Nesterov
  constexpr std::int64_t kSteps = 20;
  cfg.max_steps = kSteps;
  cfg.progress = false;
  cfg.evaluate = false;
  if (cfg.global_batch % world.size() != 0) GTEST_SKIP() << "global batch not divisible by ranks";
  test::TempDir ckpt;  // rank 0's holds the checkpoints (only rank 0 writes them)
  cfg.checkpoint_dir = ckpt.path();
  cfg.checkpoint_every = 1;
  Mlp model(cfg.model);
  AllreduceDataParallel dp;
  const TrainResult run = train(cfg, data, world, dp, model);
  ASSERT_EQ(run.checkpoints.size(), std::size_t(kSteps));
  expect_identical_on_all_ranks(world, model.params());
  const Comm alone = self();  // collective: every rank splits, rank 0 alone goes on
  if (world.rank() != 0) return;

  constexpr double kRel = 1e-3;
  std::vector<float> before;  // the parameters the step starts from
  {
    Mlp init(cfg.model);
    init.init(cfg.seed);
    before.assign(init.params().begin(), init.params().end());
  }
  for (std::int64_t k = 0; k < kSteps; ++k) {
    TrainConfig one = cfg;
    one.checkpoint_dir.clear();
    one.max_steps = k + 1;
    if (k > 0) one.resume = run.checkpoints[std::size_t(k - 1)];
    Mlp oracle(cfg.model);
    SingleProcess single;
    train(one, data, alone, single, oracle);
    const std::vector<float> after = params_of(run.checkpoints[std::size_t(k)], cfg);
    double step = 0;
    for (std::size_t i = 0; i < after.size(); ++i) step = std::max(step, std::abs(double(after[i]) - before[i]));
    ASSERT_GT(step, 0.0) << "step " << k << " changed no parameter";
    double worst = 0;  // the largest excess over the allowed difference
    std::size_t at = 0;
    for (std::size_t i = 0; i < after.size(); ++i) {
      const double d = std::abs(double(oracle.params()[i]) - after[i]);
      const double allowed = kRel * step + std::ldexp(std::abs(double(after[i])), -23);
      if (d - allowed > worst) worst = d - allowed, at = i;
    }
    ASSERT_EQ(worst, 0.0) << "step " << k << ", parameter " << at << ": data parallel " << after[at]
                                  << ", single process " << oracle.params()[at] << " (largest change of the step "
                                  << step << ")";
    before = after;
  }
}

TEST(DataParallel, Rank0sInitialModelWins) {
  const Comm world = Comm::world();
  TrainConfig cfg = small_config(48);
  cfg.max_steps = 0;  // setup only
  Mlp model(cfg.model);
  model.init(1000 + std::uint64_t(world.rank()));  // different on every rank...
  AllreduceDataParallel dp;
  dp.setup(world, model);  // ...until setup broadcasts rank 0's
  Mlp rank0(cfg.model);
  rank0.init(1000);
  EXPECT_TRUE(std::ranges::equal(model.params(), rank0.params()));
}

TEST(DataParallel, SingleStrategyRefusesSeveralRanks) {
  const Comm world = Comm::world();
  if (world.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  Mlp model(small_config(48).model);
  SingleProcess single;
  EXPECT_THROW(single.setup(world, model), Error);
}

TEST(Training, ResumedRunIsBitIdenticalToAnUninterruptedOne) {
  const Comm world = Comm::world();
  // The checkpoint folder is rank 0's name, shared with every rank (one machine).
  test::TempDir local;
  std::string dir = local.path().string();
  std::vector<char> buf(dir.begin(), dir.end());
  buf.resize(512, '\0');
  baseline::broadcast(world, std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(buf.data()), buf.size()), 0);
  const fs::path ckpt_dir = std::string(buf.data());

  TrainConfig full = small_config(48);
  full.max_steps = 60;  // 35 steps per epoch: the checkpoint at 40 is mid-epoch
  Mlp straight(full.model);
  AllreduceDataParallel dp;
  train(full, synthetic(), world, dp, straight);

  TrainConfig first = full;
  first.max_steps = 40;
  first.checkpoint_dir = ckpt_dir;
  first.checkpoint_every = 20;
  Mlp interrupted(full.model);
  const TrainResult part = train(first, synthetic(), world, dp, interrupted);
  ASSERT_EQ(part.checkpoints.size(), 2u);
  world.barrier();  // rank 0 wrote it; everyone reads it

  TrainConfig second = full;
  second.resume = part.checkpoints.back();
  Mlp resumed(full.model);
  const TrainResult rest = train(second, synthetic(), world, dp, resumed);
  EXPECT_EQ(rest.steps, 60);
  EXPECT_EQ(rest.samples, 20 * 48);
  EXPECT_TRUE(std::ranges::equal(resumed.params(), straight.params()))
      << "resuming from step 40 must reproduce the uninterrupted run bit for bit";
  world.barrier();
}

TEST(Training, LearnsTheSyntheticTask) {
  const Comm world = Comm::world();
  TrainConfig cfg = small_config(48);
  cfg.max_steps = -1;
  cfg.evaluate = true;
  cfg.lr = 0.1;
  Mlp model(cfg.model);
  AllreduceDataParallel dp;
  const TrainResult r = train(cfg, synthetic(), world, dp, model);
  ASSERT_EQ(r.epochs.size(), 3u);
  EXPECT_LT(r.epochs.back().train_loss, r.epochs.front().train_loss);
  EXPECT_GT(r.test_accuracy, 0.9);
  EXPECT_EQ(r.samples, 3 * 35 * 48);
}

}  // namespace
}  // namespace dtlab
