// Lab 05 public tests: the staleness-aware rate; asynchronous SGD replayed update by update from
// the server's report, and its divergence at a large rate that the staleness-aware rate cures;
// Hogwild! against serial SGD and against its own locked loop; local SGD and DiLoCo against their
// serial definitions; gossip against its mixing matrix and that matrix's second eigenvalue; and
// the op log's bytes for each.
#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "dtlab/data.hpp"
#include "lab05/problems.hpp"
#include "lab05_test.hpp"
#include "lab05_training.hpp"

namespace lab05 {
namespace {

using namespace lab05::test;

// ---- Part 1: asynchronous SGD ----

TEST(StepLr, DividesByTheStalenessWhenAware) {
  EXPECT_EQ(step_lr(0.3, 0, false), 0.3);
  EXPECT_EQ(step_lr(0.3, 7, false), 0.3) << "plain async SGD ignores the staleness";
  EXPECT_EQ(step_lr(0.3, 0, true), 0.3) << "a fresh gradient gets the whole rate";
  EXPECT_EQ(step_lr(0.3, 1, true), 0.3);
  EXPECT_DOUBLE_EQ(step_lr(0.3, 3, true), 0.1);
  EXPECT_DOUBLE_EQ(step_lr(1.0, 8, true), 0.125);
  EXPECT_THROW(step_lr(0.3, -1, true), dtlab::Error);
}

// What a worker last held must be the model at the version it last received.
void expect_workers_hold(const AsyncOutcome& o, const std::vector<std::vector<float>>& versions) {
  for (std::size_t w = 0; w < o.last.size(); ++w) {
    const std::int64_t v = o.versions[w];
    if (v < 0 || v >= std::int64_t(versions.size())) {
      ADD_FAILURE() << "worker " << w << " holds version " << v << ", which the server never had";
      continue;
    }
    EXPECT_EQ(o.last[w], versions[std::size_t(v)]) << "worker " << w << "'s last model is not the server's version " << v;
  }
}

TEST(Async, RoundRobinStalenessIsWorkersMinusOneAndEveryUpdateReplays) {
  DTLAB_NEEDS_RANKS(4);
  AsyncPlan p;
  p.workers = 3;
  p.n = 37;
  p.steps = 6;
  p.round_robin = true;
  p.gradient = value_gradient();
  p.config.optimizer = {.name = "sgd", .momentum = 0.5};
  p.config.lr = [](std::int64_t u) { return u % 2 ? 0.3 : 0.2; };
  p.config.staleness_aware = true;
  const AsyncOutcome o = run_async(p);
  if (!o.in_job) return;
  // The turns fix the order: worker u mod W applies update u; in the first round worker w read
  // version 0 (every start came first), later the version after its previous update.
  ASSERT_EQ(o.report.updates.size(), std::size_t(p.workers * p.steps)) << "one update per step of every worker";
  for (std::size_t u = 0; u < o.report.updates.size(); ++u) {
    const UpdateRecord& r = o.report.updates[u];
    const auto W = std::int64_t(p.workers);
    EXPECT_EQ(r.worker, int(std::int64_t(u) % W)) << "update " << u;
    EXPECT_EQ(r.version, std::int64_t(u)) << "update " << u;
    EXPECT_EQ(r.read, std::int64_t(u) < W ? 0 : std::int64_t(u) - W + 1) << "update " << u;
  }
  const std::vector<std::int64_t> h = o.report.staleness_histogram();
  EXPECT_EQ(h, (std::vector<std::int64_t>{1, 1, 16})) << "staleness 0, 1 and 2 in the first round, then W - 1 = 2";
  const auto versions = replay_async(p, o);
  EXPECT_EQ(o.params, versions.back()) << "the server's final model is not the serial replay of its updates";
  expect_workers_hold(o, versions);
}

TEST(Async, FreeRunningWorkersReplayInTheOrderTheServerSaw) {
  DTLAB_NEEDS_RANKS(6);
  AsyncPlan p;
  p.workers = 5;
  p.n = 101;
  p.steps = 20;
  p.gradient = value_gradient();
  p.config.optimizer = {.name = "sgd", .momentum = 0.9, .nesterov = true};
  p.config.lr = [](std::int64_t u) { return 0.05 + 0.001 * double(u % 7); };
  const AsyncOutcome o = run_async(p);
  if (!o.in_job) return;
  EXPECT_EQ(o.report.updates.size(), std::size_t(p.workers * p.steps));
  const auto versions = replay_async(p, o);
  EXPECT_EQ(o.params, versions.back()) << "the server's final model is not the serial replay of its updates";
  expect_workers_hold(o, versions);
}

TEST(Async, OneRoundTripPerStepAndTheModelOnlyToWhoAsked) {
  DTLAB_NEEDS_RANKS(4);
  const Comm world = Comm::world();
  auto& log = dtlab::OpLog::instance();
  AsyncPlan p;
  p.workers = 3;
  p.n = 5000;  // 20 KB models: any message over 64 bytes carries one
  p.steps = 4;
  p.gradient = value_gradient();
  world.barrier();
  log.clear();
  log.set_enabled(true);
  const AsyncOutcome o = run_async(p);
  log.set_enabled(false);
  const std::vector<dtlab::RankLog> logs = dtlab::gather_logs();
  if (world.rank() != 0) return;
  constexpr std::uint64_t kControl = 64;
  const std::uint64_t model = p.n * sizeof(float);
  const auto is_send = [](const dtlab::Op& op) {
    return op.kind == dtlab::OpKind::send || op.kind == dtlab::OpKind::isend || op.kind == dtlab::OpKind::sendrecv;
  };
  for (int w = 0; w < p.workers; ++w) {
    SCOPED_TRACE(testing::Message() << "worker " << w << " (rank " << w + 1 << ")");
    std::uint64_t sent = 0, big_sent = 0;
    for (const dtlab::Op& op : logs[std::size_t(w + 1)].ops) {
      if (op.kind == dtlab::OpKind::collective) continue;  // the test's own
      if (is_send(op) && op.peer == 0) {
        sent += op.bytes;
        if (op.bytes > kControl) ++big_sent;
      }
      if (is_send(op) && op.peer != 0) ADD_FAILURE() << "a worker talks to the server only, not to rank " << op.peer;
    }
    EXPECT_EQ(big_sent, std::uint64_t(p.steps)) << "one gradient per step, nothing else as large";
    EXPECT_LE(sent, std::uint64_t(p.steps) * model + std::uint64_t(p.steps + 2) * kControl)
        << "a step sends its gradient and a small header, a start and a finish a header";
  }
  std::vector<int> models(std::size_t(p.workers + 1), 0);
  for (const dtlab::Op& op : logs[0].ops)
    if (is_send(op) && op.bytes > kControl && op.peer >= 1 && op.peer <= p.workers) ++models[std::size_t(op.peer)];
  for (int w = 0; w < p.workers; ++w)
    EXPECT_EQ(models[std::size_t(w + 1)], p.steps + 1) << "the server answers worker " << w
                                                         << "'s start and each of its steps with the model, once";
}

// ---- asynchronous SGD at a large learning rate ----

// f(x) = sum_k lambda_k x_k^2 / 2 with lambda_k in [0.75, 1]: serial SGD at rate 0.8 converges
// (|1 - 0.8 lambda| <= 0.4), but with every gradient 3 updates old, x_{t+1} = x_t - a x_{t-3} is
// stable only for a < 2 sin(pi / 14) = 0.445 (the delay equation's bound), and a = 0.8 lambda is
// 0.6 to 0.8; the staleness-aware rate 0.8 lambda / 3 <= 0.27 is inside it.
struct Quadratic {
  static constexpr std::size_t n = 16;
  static double lambda(std::size_t k) { return 0.75 + 0.25 * double(k) / double(n - 1); }
  static double loss(std::span<const float> x) {
    double f = 0;
    for (std::size_t k = 0; k < x.size(); ++k) f += lambda(k) * double(x[k]) * x[k] / 2;
    return f;
  }
  static Gradient gradient() {
    return [](int, std::int64_t, std::span<const float> x, std::span<float> g) {
      for (std::size_t k = 0; k < x.size(); ++k) g[k] = float(lambda(k) * x[k]);
    };
  }
};

double run_quadratic(int workers, std::int64_t steps, bool aware, std::vector<std::int64_t>* histogram = nullptr) {
  AsyncPlan p;
  p.workers = workers;
  p.n = Quadratic::n;
  p.initial.assign(p.n, 1.0f);
  p.steps = steps;
  p.round_robin = true;
  p.gradient = Quadratic::gradient();
  p.config.optimizer = {.name = "sgd", .momentum = 0};
  p.config.lr = [](std::int64_t) { return 0.8; };
  p.config.staleness_aware = aware;
  const AsyncOutcome o = run_async(p);
  if (histogram) *histogram = o.report.staleness_histogram();
  return o.in_job ? Quadratic::loss(o.params) : 0;
}

TEST(AsyncDivergence, PlainAsyncDivergesWhereStalenessAwareConverges) {
  DTLAB_NEEDS_RANKS(5);
  const std::vector<float> ones(Quadratic::n, 1.0f);
  const double start = Quadratic::loss(ones);
  std::vector<std::int64_t> h;
  const double serial = run_quadratic(1, 240, false);
  const double plain = run_quadratic(4, 60, false, &h);
  const double aware = run_quadratic(4, 60, true);
  if (Comm::world().rank() != 0) return;
  EXPECT_LT(serial, 1e-6 * start) << "one worker (no staleness) at rate 0.8 must converge";
  ASSERT_EQ(h.size(), 4u) << "four workers taking turns: staleness 3 after the first round";
  EXPECT_EQ(h[3], 240 - 3);
  EXPECT_TRUE(!std::isfinite(plain) || plain > 1e3 * start)
      << "plain asynchronous SGD at rate 0.8 with staleness 3 must diverge (the delay equation's bound is 0.445): loss "
      << plain << " from " << start;
  EXPECT_LT(aware, 1e-4 * start) << "the staleness-aware rate 0.8 / 3 must converge";
}

// ---- Part 2: Hogwild! ----

TEST(Hogwild, OneThreadIsSerialSgdToTheBit) {
  const ExactProblem sparse(500, 300, 6, 3), dense(64, 50, 0, 0);
  for (const ExactProblem* problem : {&sparse, &dense})
    for (const bool locked : {false, true}) {
      SCOPED_TRACE(testing::Message() << (problem == &sparse ? "sparse" : "dense") << (locked ? ", locked" : ""));
      const HogwildConfig c{.threads = 1, .epochs = 3, .lr = 0.5, .decay = 0.5, .locked = locked, .seed = 11};
      std::vector<float> want(problem->dim(), 0.0f), got(problem->dim(), 0.0f);
      serial_sgd(*problem, want, c);
      HogwildReport r;
      ASSERT_NO_THROW(r = hogwild(*problem, got, c));
      EXPECT_EQ(got, want) << "one thread must take epoch_order's steps in order, each at epoch e's rate lr * decay^e";
      EXPECT_EQ(r.steps_per_thread, (std::vector<std::int64_t>{3 * std::int64_t(problem->steps())}));
    }
  // Bad arguments are errors.
  std::vector<float> w(sparse.dim(), 0.0f), short_w(sparse.dim() - 1, 0.0f);
  EXPECT_THROW(hogwild(sparse, w, {.threads = 0}), dtlab::Error);
  EXPECT_THROW(hogwild(sparse, short_w, {.threads = 1}), dtlab::Error);
  EXPECT_THROW(hogwild(sparse, w, {.threads = 1, .epochs = -1}), dtlab::Error);
}

TEST(HogwildThreads, EveryStepIsTakenOnceByItsThread) {
  for (const int T : {2, 3}) {
    // Disjoint steps: nothing can be lost even without the lock, so every way must give the sum.
    const ConstantProblem disjoint(301, 4, false), dense(60, 8, true);
    for (const bool locked : {false, true})
      for (const ConstantProblem* problem : {&disjoint, &dense}) {
        if (problem == &dense && !locked) continue;  // without the lock, dense updates may be lost
        SCOPED_TRACE(testing::Message() << T << " threads" << (locked ? ", locked" : "")
                                        << (problem == &dense ? ", dense" : ", disjoint"));
        const HogwildConfig c{.threads = T, .epochs = 3, .lr = 0.5, .decay = 0.5, .locked = locked, .seed = 5};
        std::vector<float> w(problem->dim(), 0.0f);
        HogwildReport r;
        ASSERT_NO_THROW(r = hogwild(*problem, w, c));
        EXPECT_EQ(w, problem->expected(c)) << "each step once per epoch, at that epoch's rate";
        std::vector<std::int64_t> want;
        for (int t = 0; t < T; ++t) want.push_back(3 * block_size(problem->steps(), T, t));
        EXPECT_EQ(r.steps_per_thread, want) << "thread t takes block t of each epoch's order";
      }
  }
}

// The sparse problem of the lab: the loss Hogwild reaches against the locked loop's. The order
// of the steps differs from run to run, so the two differ by what a different order gives: on
// this problem, serial SGD over 20 orders (seeds 0 to 19) ended between 0.16652 and 0.16657, a
// spread of 0.00004 (docs/results/lab05.md); the bound is ten times that.
TEST(HogwildThreads, SparseLossMatchesTheLockedLoop) {
  const SparseLogistic problem({.samples = 20000, .dim = 100000, .nnz = 16, .seed = 4});
  const HogwildConfig c{.threads = 2, .epochs = 5, .lr = 2.0, .decay = 0.7, .seed = 9};
  std::vector<float> zero(problem.dim(), 0.0f), hog = zero, locked = zero;
  ASSERT_NO_THROW(hogwild(problem, hog, c));
  HogwildConfig cl = c;
  cl.locked = true;
  ASSERT_NO_THROW(hogwild(problem, locked, cl));
  const double l0 = problem.loss(zero), lh = problem.loss(hog), ll = problem.loss(locked);
  EXPECT_LT(ll, 0.6 * l0) << "the locked loop must learn: loss " << ll << " from " << l0;
  EXPECT_NEAR(lh, ll, 0.0004) << "Hogwild's loss against the locked loop's";
}

// Whether the threads really run at once without the lock, and one at a time with it, told by
// the problem itself: it counts the threads inside gradient() at once. Each call sleeps 100 us, so
// that even where the test gets one core (a loaded machine, a grader running two jobs) the other
// thread runs meanwhile and enters too. Unlike a timing, this holds on any machine under any load.
TEST(HogwildConcurrency, ThreadsComputeAtOnceWithoutTheLockAndOneAtATimeWithIt) {
  for (const int T : {2, 3})
    for (const bool locked : {false, true}) {
      SCOPED_TRACE(testing::Message() << T << " threads" << (locked ? ", locked" : ""));
      const ConcurrencyProblem problem(400);
      std::vector<float> w(problem.dim(), 0.0f);
      ASSERT_NO_THROW(hogwild(problem, w, {.threads = T, .epochs = 1, .lr = 0.5, .locked = locked}));
      if (locked)
        EXPECT_EQ(problem.most_at_once(), 1) << "with the lock, one step (read, gradient, write) at a time";
      else
        EXPECT_GE(problem.most_at_once(), 2) << "without the lock, no thread may wait for another: at most one "
                                                "thread was ever computing a gradient (a lock taken anyway? threads "
                                                "started one after another?)";
    }
}

// ---- Part 3: local SGD and DiLoCo ----

void expect_matches_serial(const LocalPlan& serial_plan, const LocalPlan& run_plan) {
  const Comm job = first(run_plan.ranks);
  std::vector<float> got;
  if (job.valid()) guarded([&](const Comm& c) { got = run_local(run_plan, c); }, job);
  Comm::world().barrier();
  if (Comm::world().rank() != 0) return;
  const std::vector<float> want = serial_local(serial_plan);
  ASSERT_EQ(got.size(), want.size());
  for (int r = 0; r < run_plan.ranks; ++r)
    for (std::size_t k = 0; k < run_plan.n; ++k)
      if (got[std::size_t(r) * run_plan.n + k] != want[std::size_t(r) * run_plan.n + k]) {
        ADD_FAILURE() << "rank " << r << ", parameter " << k << ": " << got[std::size_t(r) * run_plan.n + k]
                      << ", expected " << want[std::size_t(r) * run_plan.n + k]
                      << " (the values are exact in float: one bit off is a mistake)";
        return;
      }
}

TEST(LocalSgd, EveryStepIsSynchronousSgd) {
  // With H = 1 the mean of the models after each step is the synchronous step: the optimizer is
  // linear in the gradient (momentum too). Values are multiples of powers of two: exact.
  for (const int ranks : {1, 2, 4}) {
    if (Comm::world().size() < ranks) continue;
    SCOPED_TRACE(testing::Message() << ranks << " ranks");
    LocalPlan local{.method = Method::local, .ranks = ranks, .H = 1, .steps = 8, .initial = {}};
    LocalPlan sync = local;
    sync.method = Method::sync;
    expect_matches_serial(sync, local);
  }
}

TEST(LocalSgd, AveragesTheModelsEveryHSteps) {
  for (const int ranks : {2, 4})
    for (const auto& [H, steps] : {std::pair{3, 12}, {4, 10}, {2, 5}}) {
      if (Comm::world().size() < ranks) continue;
      SCOPED_TRACE(testing::Message() << ranks << " ranks, H = " << H << ", " << steps << " steps");
      const LocalPlan p{.method = Method::local, .ranks = ranks, .H = H, .steps = steps, .initial = {}};
      expect_matches_serial(p, p);
    }
}

TEST(LocalSgd, SaysWhenItSynchronised) {
  DTLAB_NEEDS_RANKS(2);
  const Comm job = first(2);
  if (job.valid()) guarded([&](const Comm& c) {
      LocalSgd local(c, 3);
      std::vector<float> x(5, float(c.rank()));
      for (int s = 1; s <= 7; ++s) EXPECT_EQ(local.after_step(x), s % 3 == 0) << "step " << s;
      EXPECT_EQ(x, std::vector<float>(5, 0.5f)) << "the mean of 0 and 1 after step 6";
    }, job);
  Comm::world().barrier();
}

TEST(DiLoCo, OuterNesterovStepOnTheMeanPseudoGradient) {
  for (const int ranks : {1, 2, 4})
    for (const auto& [H, steps] : {std::pair{3, 12}, {1, 6}, {4, 10}}) {
      if (Comm::world().size() < ranks) continue;
      SCOPED_TRACE(testing::Message() << ranks << " ranks, H = " << H << ", " << steps << " steps");
      const LocalPlan p{.method = Method::diloco, .ranks = ranks, .H = H, .steps = steps, .initial = {}};
      expect_matches_serial(p, p);
    }
}

TEST(DiLoCo, PlainMomentumAndTheGlobalModel) {
  DTLAB_NEEDS_RANKS(2);
  const LocalPlan p{.method = Method::diloco, .ranks = 2, .H = 2, .steps = 8, .outer = {.lr = 0.75, .momentum = 0.5, .nesterov = false}, .initial = {}};
  expect_matches_serial(p, p);
  const Comm job = first(2);
  if (job.valid()) guarded([&](const Comm& c) {
      std::vector<float> x(6, 1.0f);
      DiLoCo d(c, x, 2, {.lr = 1.0, .momentum = 0.5, .nesterov = false});
      x.assign(6, c.rank() == 0 ? 0.5f : 0.0f);
      EXPECT_FALSE(d.after_step(x));
      EXPECT_TRUE(d.after_step(x));
      // Pseudo-gradient: mean of 1 - 0.5 and 1 - 0 = 0.75; first outer step: 1 - 1.0 * 0.75.
      EXPECT_EQ(std::vector<float>(d.global().begin(), d.global().end()), std::vector<float>(6, 0.25f));
      EXPECT_EQ(x, std::vector<float>(6, 0.25f)) << "after a round every rank starts from the global model";
    }, job);
  Comm::world().barrier();
}

// Bytes on the wire per rank over a run, from the op log: point-to-point sends plus the payload
// of library collectives.
std::vector<std::uint64_t> bytes_per_rank(const std::vector<dtlab::RankLog>& logs) {
  std::vector<std::uint64_t> out;
  for (const dtlab::RankLog& rl : logs) {
    std::uint64_t b = 0;
    for (const dtlab::Op& op : rl.ops)
      if (op.kind == dtlab::OpKind::send || op.kind == dtlab::OpKind::isend || op.kind == dtlab::OpKind::sendrecv ||
          op.kind == dtlab::OpKind::collective)
        b += op.bytes;
    out.push_back(b);
  }
  return out;
}

std::vector<std::uint64_t> logged_bytes(const LocalPlan& p) {
  const Comm world = Comm::world();
  const Comm job = first(p.ranks);
  world.barrier();
  if (job.valid()) guarded([&](const Comm& c) { run_local(p, c, true); }, job);
  const auto logs = dtlab::gather_logs();
  auto b = bytes_per_rank(logs);
  b.resize(std::size_t(p.ranks));
  return b;
}

void expect_one_hth(Method method) {
  DTLAB_NEEDS_RANKS(4);
  LocalPlan p{.method = Method::sync, .ranks = 4, .n = 1000, .steps = 12, .initial = {}};
  const std::vector<std::uint64_t> sync = logged_bytes(p);
  for (const int H : {1, 3, 4}) {
    p.method = method;
    p.H = H;
    const std::vector<std::uint64_t> got = logged_bytes(p);
    if (Comm::world().rank() != 0) continue;
    for (int r = 0; r < p.ranks; ++r)
      EXPECT_EQ(got[std::size_t(r)] * std::uint64_t(H), sync[std::size_t(r)])
          << "rank " << r << ", H = " << H << ": " << got[std::size_t(r)] << " bytes in 12 steps, synchronous SGD "
          << sync[std::size_t(r)] << ": one allreduce of the model every H steps, 1/H of its bytes";
  }
}

TEST(OpLog, LocalSgdSendsOneHthOfSynchronousSgdsBytes) { expect_one_hth(Method::local); }
TEST(OpLog, DiLoCoSendsOneHthOfSynchronousSgdsBytes) { expect_one_hth(Method::diloco); }

// ---- Part 4: gossip ----

TEST(Neighbours, RingAndTorus) {
  EXPECT_EQ(neighbours(Topology::ring, 0, 1), std::vector<int>{});
  EXPECT_EQ(neighbours(Topology::ring, 0, 2), std::vector<int>{1});
  EXPECT_EQ(neighbours(Topology::ring, 0, 5), (std::vector<int>{1, 4}));
  EXPECT_EQ(neighbours(Topology::ring, 3, 5), (std::vector<int>{2, 4}));
  EXPECT_EQ(neighbours(Topology::torus, 0, 6), (std::vector<int>{1, 2, 3})) << "2 x 3: above and below are one rank";
  EXPECT_EQ(neighbours(Topology::torus, 4, 9), (std::vector<int>{1, 3, 5, 7}));
  EXPECT_EQ(neighbours(Topology::torus, 0, 12), (std::vector<int>{1, 3, 4, 8})) << "3 x 4";
  EXPECT_EQ(neighbours(Topology::torus, 11, 12), (std::vector<int>{3, 7, 8, 10}));
  EXPECT_EQ(neighbours(Topology::torus, 2, 7), (std::vector<int>{1, 3})) << "a prime: 1 x 7, a ring";
  // Every p up to 16, against the mixing matrix's off-diagonal entries.
  for (const Topology t : {Topology::ring, Topology::torus})
    for (int p = 1; p <= 16; ++p) {
      const auto W = mixing_matrix(t, p);
      for (int r = 0; r < p; ++r) {
        std::vector<int> want;
        for (int j = 0; j < p; ++j)
          if (j != r && W[std::size_t(r)][std::size_t(j)] > 0) want.push_back(j);
        EXPECT_EQ(neighbours(t, r, p), want) << to_string(t) << " of " << p << ", rank " << r;
      }
    }
  EXPECT_THROW(neighbours(Topology::ring, 5, 5), dtlab::Error);
  EXPECT_THROW(neighbours(Topology::torus, -1, 4), dtlab::Error);
}

TEST(GossipMix, OneStepIsTheMixingMatrixAndKeepsTheMean) {
  const Comm world = Comm::world();
  constexpr std::size_t n = 257;
  for (const Topology t : {Topology::ring, Topology::torus})
    for (int p = 1; p <= world.size(); ++p) {
      SCOPED_TRACE(testing::Message() << to_string(t) << " of " << p);
      const Comm job = first(p);
      if (job.valid()) {
        std::vector<float> x = gossip_values(job.rank(), n);
        const auto before = gather_all(job, x);
        guarded([&](const Comm& c) { gossip_mix(c, t, x); }, job);
        const auto after = gather_all(job, x);
        const auto W = mixing_matrix(t, p);
        const int d = int(std::count_if(W[0].begin(), W[0].end(), [](double w) { return w > 0; })) - 1;
        double max_abs = 0;
        for (const auto& v : before)
          for (const double y : v) max_abs = std::max(max_abs, std::abs(y));
        const double bound = mix_bound(d, max_abs);
        int reported = 0;
        for (int r = 0; r < p && reported < 3; ++r)
          for (std::size_t k = 0; k < n && reported < 3; ++k) {
            double want = 0;
            for (int j = 0; j < p; ++j) want += W[std::size_t(r)][std::size_t(j)] * before[std::size_t(j)][k];
            if (!(std::abs(after[std::size_t(r)][k] - want) <= bound)) {
              ADD_FAILURE() << "rank " << r << ", element " << k << ": " << after[std::size_t(r)][k] << ", expected "
                            << want << " (the average of its own value and its " << d << " neighbours')";
              ++reported;
            }
          }
        for (std::size_t k = 0; k < n && reported == 0; ++k) {
          double m0 = 0, m1 = 0;
          for (int r = 0; r < p; ++r) m0 += before[std::size_t(r)][k] / p, m1 += after[std::size_t(r)][k] / p;
          if (!(std::abs(m1 - m0) <= bound)) {
            ADD_FAILURE() << "element " << k << ": the mean over the ranks moved from " << m0 << " to " << m1;
            ++reported;
          }
        }
      }
      world.barrier();
    }
}

TEST(Consensus, FallsAtTheRateOfTheSecondEigenvalue) {
  const Comm world = Comm::world();
  constexpr std::size_t n = 64;
  // The oracle's eigenvalue against the closed form of a ring's circulant matrix: eigenvalues
  // (1 + 2 cos(2 pi k / p)) / 3.
  for (int p = 3; p <= 12; ++p) {
    double want = 0;
    for (int k = 1; k < p; ++k) want = std::max(want, std::abs((1 + 2 * std::cos(2 * M_PI * k / p)) / 3));
    ASSERT_NEAR(second_eigenvalue(mixing_matrix(Topology::ring, p)), want, 1e-9) << "ring of " << p;
  }
  for (const auto& [t, p] : {std::pair{Topology::ring, 6}, {Topology::ring, 5}, {Topology::torus, 6}, {Topology::torus, 4}}) {
    if (world.size() < p) continue;
    SCOPED_TRACE(testing::Message() << to_string(t) << " of " << p);
    const double lambda = second_eigenvalue(mixing_matrix(t, p));
    const Comm job = first(p);
    if (job.valid()) {
      std::vector<float> x = gossip_values(job.rank(), n);
      std::vector<double> d = {consensus_distance(gather_all(job, x))};
      for (int step = 1; step <= 14; ++step) {
        guarded([&](const Comm& c) { gossip_mix(c, t, x); }, job);
        d.push_back(consensus_distance(gather_all(job, x)));
      }
      // For a symmetric W, ||x_t - mean|| <= lambda^t ||x_0 - mean|| for each rank's vector
      // stacked; the max over ranks is within sqrt(p) of that norm. Plus rounding, at most
      // (d + 1) u max|x| per step and element.
      const double slack = std::sqrt(double(n) * p) * 20 * 0x1p-24 * 4;
      for (int step = 1; step <= 14; ++step)
        EXPECT_LE(d[std::size_t(step)], std::sqrt(double(p)) * std::pow(lambda, step) * d[0] + slack)
            << "step " << step << ": consensus distance above what the second eigenvalue " << lambda << " allows";
      // Once the other modes have died out, each step multiplies the distance by lambda.
      if (lambda > 0.3) {
        const double rate = d[14] / d[13];
        EXPECT_NEAR(rate, lambda, 0.01 * lambda) << "measured rate of the last step against lambda_2";
      }
    }
    world.barrier();
  }
}

TEST(OpLog, GossipTalksToItsNeighboursOnlyAllAtOnce) {
  DTLAB_NEEDS_RANKS(6);
  const Comm world = Comm::world();
  constexpr std::size_t n = 3000;
  auto& log = dtlab::OpLog::instance();
  for (const Topology t : {Topology::ring, Topology::torus}) {
    SCOPED_TRACE(to_string(t));
    std::vector<float> x = gossip_values(world.rank(), n);
    world.barrier();
    log.clear();
    log.set_enabled(true);
    guarded([&](const Comm& c) { gossip_mix(c, t, x); }, world);
    log.set_enabled(false);
    const auto logs = dtlab::gather_logs();
    if (world.rank() != 0) continue;
    for (int r = 0; r < world.size(); ++r) {
      SCOPED_TRACE(testing::Message() << "rank " << r);
      std::multiset<int> to, from;
      bool waited = false;
      for (const dtlab::Op& op : logs[std::size_t(r)].ops) {
        switch (op.kind) {
          case dtlab::OpKind::isend:
            if (waited) ADD_FAILURE() << "a send to " << op.peer << " posted after a wait: post every message first";
            EXPECT_EQ(op.bytes, n * sizeof(float)) << "to " << op.peer;
            to.insert(op.peer);
            break;
          case dtlab::OpKind::irecv:
            if (waited) ADD_FAILURE() << "a receive posted after a wait: post every message first";
            from.insert(op.peer);
            break;
          case dtlab::OpKind::wait:
            waited = true;
            break;
          case dtlab::OpKind::compute:
            break;
          default:
            ADD_FAILURE() << "a " << dtlab::to_string(op.kind)
                          << ": gossip posts non-blocking sends and receives to its neighbours, then waits; no collective";
        }
      }
      const auto W = mixing_matrix(t, world.size());
      std::vector<int> peers;
      for (int j = 0; j < world.size(); ++j)
        if (j != r && W[std::size_t(r)][std::size_t(j)] > 0) peers.push_back(j);
      EXPECT_EQ(to, std::multiset<int>(peers.begin(), peers.end())) << "one message to each neighbour";
      EXPECT_EQ(from, std::multiset<int>(peers.begin(), peers.end())) << "one message from each neighbour";
    }
  }
}

// ---- Every method trains: the training program's loop, on your code ----

// dtlab's MLP on Fashion-MNIST, 4 workers, lr 0.1 with Nesterov momentum 0.9 (the training
// program's defaults), as docs/results/lab05.md measured: each method must reach 85% test
// accuracy in its epochs; the item's timeout (120 s) bounds the time. The reference reached
// 86.39% (async, staleness-aware, 3 epochs), 87.06% (local SGD, 2), 86.34% (DiLoCo, H = 16, 2) and
// 86.99% (gossip, 2). Asynchronous SGD's order of updates differs from run to run; the others'
// results are deterministic.
TEST(Training, EveryMethodReachesItsTargetOnFashionMnist) {
  DTLAB_NEEDS_RANKS(5);
  const Comm world = Comm::world();
  const dtlab::DataSplit data = dtlab::load_fashion_mnist(dtlab::default_fashion_mnist_dir());
  struct Case {
    std::string strategy;
    int ranks, epochs;
    int sync_every;
    bool staleness_aware;
  };
  const std::vector<Case> cases = {
      {"async", 5, 3, 0, true}, {"local-sgd", 4, 2, 8, false}, {"diloco", 4, 2, 16, false}, {"gossip", 4, 2, 1, false}};
  for (const Case& c : cases) {
    programs::Flags flags;
    flags.sync_every = c.sync_every;
    flags.staleness_aware = c.staleness_aware;
    const Comm job = first(c.ranks);
    double accuracy = -1;
    if (job.valid()) {
      guarded([&](const Comm& j) {
        dtlab::TrainConfig cfg;
        cfg.lr = 0.1;
        cfg.epochs = c.epochs;
        cfg.progress = false;
        dtlab::Mlp model(cfg.model);
        accuracy = programs::train(cfg, data, j, model, c.strategy, flags).result.test_accuracy;
      }, job);
    }
    world.barrier();
    if (world.rank() == 0) {
      RecordProperty(c.strategy + "_accuracy", std::to_string(accuracy));
      EXPECT_GE(accuracy, 0.85) << c.strategy << " on " << c.ranks << " ranks, " << c.epochs
                                << " epochs: test accuracy of the trained model (-1: it did not train)";
    }
  }
}

}  // namespace
}  // namespace lab05
