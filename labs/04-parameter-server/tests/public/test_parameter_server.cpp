// Lab 04 public tests: key ranges; BSP against synchronous SGD; what every pull held under BSP,
// SSP and ASP, read back from the pulled values and compared with the bound and the servers'
// reports; many pushes in flight; a dead worker, a slow one, workers that stop at different
// clocks; and the op log's traffic, key by key and server by server.
#include <gtest/gtest.h>

#include <numeric>
#include <set>

#include "dtlab/data.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/oplog.hpp"
#include "lab04_test.hpp"

namespace lab04 {
namespace {

using namespace lab04::test;

// ---- Part 1: key ranges ----

TEST(KeyRanges, CoverEveryKeyOnceEvenlyInServerOrder) {
  for (std::size_t n : {0, 1, 2, 3, 7, 10, 64, 100, 1001})
    for (int servers = 1; servers <= 9; ++servers) {
      SCOPED_TRACE(testing::Message() << "n=" << n << " servers=" << servers);
      std::size_t next = 0;
      for (int s = 0; s < servers; ++s) {
        const KeyRange r = key_range(n, servers, s);
        EXPECT_EQ(r.begin, next) << "server " << s << " must start where server " << s - 1 << " ends";
        ASSERT_GE(r.end, r.begin);
        // The first n % servers servers own one key more than the others.
        const std::size_t expected = n / std::size_t(servers) + (std::size_t(s) < n % std::size_t(servers) ? 1 : 0);
        EXPECT_EQ(r.size(), expected) << "server " << s;
        next = r.end;
      }
      EXPECT_EQ(next, n) << "the last server must end at n";
    }
}

TEST(KeyRanges, MissingServerIsAnError) {
  ASSERT_EQ(key_range(10, 3, 2).size(), 3u);
  EXPECT_THROW(key_range(10, 3, 3), dtlab::Error);
  EXPECT_THROW(key_range(10, 3, -1), dtlab::Error);
  EXPECT_THROW(key_range(10, 0, 0), dtlab::Error);
}

// ---- BSP is synchronous SGD ----

TEST(Bsp, EqualsSynchronousSgdToTheBit) {
  // Every value here is a multiple of a power of two with few significant bits, so float sums
  // are exact in any order: one bit off is a mistake, not rounding.
  const auto lr = [](std::int64_t c) { return c % 2 ? 0.0625 : 0.125; };
  expect_bsp_equals_sync_sgd(1, 1, 50, 6, 3, 17, lr);
  expect_bsp_equals_sync_sgd(1, 2, 50, 6, 3, 17, lr);
  expect_bsp_equals_sync_sgd(2, 2, 101, 6, 3, 17, lr);
  expect_bsp_equals_sync_sgd(1, 4, 37, 6, 3, 17, lr);
  expect_bsp_equals_sync_sgd(3, 2, 202, 6, 3, 17, lr);
}

TEST(Bsp, TrainsTheMlpAsSynchronousSgd) {
  DTLAB_NEEDS_RANKS(5);
  // dtlab's MLP on a synthetic dataset: W workers each take 1/W of every global batch of 48, the
  // servers apply SGD with Nesterov momentum and weight decay; the oracle is one process training
  // on the whole batch. The two add the same gradients in other orders, which at this small
  // learning rate moves no parameter by more than 1e-5 of the largest (docs/core.md: training is
  // not chaotic here, so rounding differences stay at rounding size), where a missing or repeated
  // push, a stale read or a wrong mean moves them by 1e-3 or more.
  const dtlab::DataSplit data = dtlab::make_synthetic({.train = 960, .test = 16, .features = 32, .seed = 4});
  const dtlab::MlpConfig cfg{.inputs = 32, .hidden = {24, 16}, .classes = data.train.classes};
  const dtlab::OptimizerConfig opt{.name = "sgd", .momentum = 0.9, .nesterov = true, .weight_decay = 5e-4};
  constexpr std::int64_t kBatch = 48, kSteps = 6;
  const auto batch = [&](std::int64_t step, std::int64_t first, std::int64_t count, std::vector<float>& x,
                         std::vector<std::int32_t>& y) {
    x.resize(std::size_t(count * data.train.features));
    y.resize(std::size_t(count));
    data.train.slice(step * kBatch + first, count, x, y);
  };
  dtlab::Mlp whole(cfg);
  whole.init(7);
  const std::vector<float> initial(whole.params().begin(), whole.params().end());
  auto sgd = dtlab::make_optimizer(opt, whole.num_params());
  std::vector<float> x;
  std::vector<std::int32_t> y;
  for (std::int64_t step = 0; step < kSteps; ++step) {
    batch(step, 0, kBatch, x, y);
    whole.forward_backward(x, y);
    sgd->step(whole.params(), whole.grads(), 0.05);
  }
  for (const auto& [servers, workers] : {std::pair{2, 3}, std::pair{1, 4}, std::pair{3, 2}}) {
    SCOPED_TRACE(testing::Message() << servers << " servers, " << workers << " workers");
    Plan p;
    p.servers = servers;
    p.workers = workers;
    p.n = initial.size();
    p.initial = initial;
    p.clocks = kSteps;
    p.config.optimizer = opt;
    p.config.lr = [](std::int64_t) { return 0.05; };
    p.gradient = [&](int w, std::int64_t c, std::span<const float> params, std::span<float> g) {
      dtlab::Mlp local(cfg);
      std::copy(params.begin(), params.end(), local.params().begin());
      std::vector<float> lx;
      std::vector<std::int32_t> ly;
      const std::int64_t share = kBatch / workers;
      batch(c, w * share, share, lx, ly);
      local.forward_backward(lx, ly);
      std::copy(local.grads().begin(), local.grads().end(), g.begin());
    };
    const Outcome o = run_job(dtlab::Comm::world(), p);
    if (!o.in_job) continue;
    double diff = 0, scale = 0;
    for (std::size_t k = 0; k < p.n; ++k) {
      diff = std::max(diff, std::abs(double(o.params[k]) - double(whole.params()[k])));
      scale = std::max(scale, std::abs(double(whole.params()[k])));
    }
    EXPECT_LE(diff / scale, 1e-5) << "after " << kSteps << " clocks the servers' model is this far (relative to its "
                                  << "largest parameter) from one process's synchronous SGD on the whole batch";
  }
}

// ---- what every pull held ----

struct ReadCheck {
  int servers, workers, staleness;
  int slow = 0;          // this worker sleeps before each push...
  double slow_s = 0.04;  // ...this long
};

// Runs the one-hot job and checks every pull against the bound, and each server's report against
// what its keys held. Returns the largest staleness seen.
std::int64_t expect_reads_within_bound(const ReadCheck& rc) {
  SCOPED_TRACE(testing::Message() << rc.servers << " servers, " << rc.workers << " workers, staleness "
                                  << (rc.staleness == kAsync ? std::string("async") : std::to_string(rc.staleness)));
  const OneHot h{.workers = rc.workers, .clocks = 6};
  Plan p;
  p.servers = rc.servers;
  p.workers = rc.workers;
  p.n = std::size_t(rc.servers * h.residues() + 5);
  p.clocks = h.clocks;
  p.gradient = h.gradient();
  p.config.optimizer = {.name = "sgd", .momentum = 0};
  p.config.staleness = rc.staleness;
  p.keep_pulls = true;
  p.before_push = [&rc](int w, std::int64_t) {
    if (w == rc.slow) std::this_thread::sleep_for(std::chrono::duration<double>(rc.slow_s));
  };
  const Comm world = dtlab::Comm::world();
  const Outcome o = run_job(world, p);
  // What every pull held, server by server: worker w's pull at clock c from server s -> version.
  const auto S = std::size_t(rc.servers), W = std::size_t(rc.workers), C = std::size_t(h.clocks);
  std::vector<std::int64_t> versions(S * W * C, -1);
  std::int64_t worst = 0;
  if (o.in_job && !o.server) {
    EXPECT_EQ(o.pulls.size(), C);
    for (std::size_t c = 0; c < o.pulls.size(); ++c)
      for (int s = 0; s < rc.servers; ++s) {
        const KeyRange r = key_range(p.n, rc.servers, s);
        const Holds held = read_holds(o.pulls[c], h, r.begin, r.end);
        if (!held.problem.empty()) {
          ADD_FAILURE() << "worker " << o.index << "'s pull at clock " << c << ", server " << s << "'s keys: " << held.problem;
          continue;
        }
        const std::int64_t v = held.version(), staleness = std::int64_t(c) - v;
        versions[(std::size_t(s) * W + std::size_t(o.index)) * C + c] = v;
        worst = std::max(worst, staleness);
        for (std::size_t later = c; later < C; ++later)
          EXPECT_FALSE(held.included[std::size_t(o.index)][later])
              << "worker " << o.index << "'s pull at clock " << c << " held its own push of clock " << later << ", not yet made";
        if (rc.staleness != kAsync) {
          EXPECT_LE(staleness, rc.staleness) << "worker " << o.index << " read at clock " << c << " from server " << s
                                             << " a model holding every worker's clocks 0.." << v - 1
                                             << " only; the bound asks for clocks 0.." << std::int64_t(c) - rc.staleness - 1;
          EXPECT_TRUE(held.whole_clocks()) << "worker " << o.index << " read at clock " << c << " from server " << s
                                           << " part of a clock: BSP and SSP apply a clock once every worker has pushed it";
        }
      }
  }
  // Every server's report must say what its keys held.
  dtlab::baseline::allreduce(world, std::span<std::int64_t>(versions), dtlab::ReduceOp::max);
  std::int64_t worst_all[1] = {worst};
  dtlab::baseline::allreduce(world, std::span<std::int64_t>(worst_all), dtlab::ReduceOp::max);
  if (o.in_job && o.server) {
    std::multiset<std::tuple<int, std::int64_t, std::int64_t>> reported, read;
    for (const PullRecord& r : o.report.pulls) reported.insert({r.worker, r.clock, r.version});
    for (std::size_t w = 0; w < W; ++w)
      for (std::size_t c = 0; c < C; ++c) read.insert({int(w), std::int64_t(c), versions[(std::size_t(o.index) * W + w) * C + c]});
    EXPECT_EQ(reported, read) << "server " << o.index << "'s report (worker, clock, version) of every pull it answered "
                              << "differs from what its keys held in those pulls";
    EXPECT_EQ(o.report.pushes, std::int64_t(W * C));
    EXPECT_EQ(o.report.updates, std::int64_t(rc.staleness == kAsync ? W * C : C))
        << "optimizer steps: one per clock (BSP, SSP) or per push (ASP)";
  }
  // In the end every push is in, once.
  if (o.in_job) {
    const Holds end = read_holds(o.params, h, 0, p.n);
    EXPECT_EQ(end.problem, "") << "the final model";
    EXPECT_EQ(end.version(), std::int64_t(C)) << "the final model must hold every push";
  }
  return worst_all[0];
}

TEST(Consistency, BspReadsExactlyTheClocksBefore) {
  DTLAB_NEEDS_RANKS(5);
  EXPECT_EQ(expect_reads_within_bound({1, 2, 0}), 0);
  EXPECT_EQ(expect_reads_within_bound({2, 3, 0, 1}), 0);
}

TEST(Consistency, SspNeverReadsStalerThanTheBoundAndGoesUpToIt) {
  DTLAB_NEEDS_RANKS(5);
  // Worker 0 is slow, so the others run ahead until the bound holds them: the largest staleness
  // seen is the bound itself (not less: an SSP that waits like BSP is slow for nothing).
  for (int s : {1, 2, 3}) EXPECT_EQ(expect_reads_within_bound({2, 3, s, 0, 0.05}), s) << "SSP(" << s << ")";
  EXPECT_EQ(expect_reads_within_bound({1, 2, 2, 1, 0.05}), 2) << "SSP(2)";
}

TEST(Consistency, AspNeverWaits) {
  DTLAB_NEEDS_RANKS(5);
  // The fast workers go through their 6 clocks while the slow one sleeps: they read models that
  // miss most of its pushes.
  EXPECT_GE(expect_reads_within_bound({2, 3, kAsync, 0, 0.1}), 4);
  EXPECT_GE(expect_reads_within_bound({1, 2, kAsync, 1, 0.1}), 4);
}

// ---- many pushes in flight ----

TEST(Load, ManyPushesInFlightAddUpExactly) {
  DTLAB_NEEDS_RANKS(4);
  // ps-lite's push/pull test: every worker pushes the same keys many times before it pulls once;
  // the pull holds exactly minus the sum of every push over W (SGD at learning rate 1 from zeros;
  // small integers over 2, so exact in any order).
  for (int staleness : {kAsync, 0}) {
    SCOPED_TRACE(staleness == kAsync ? "ASP" : "BSP");
    Plan p;
    p.servers = 2;
    p.workers = 2;
    p.n = 40001;  // ranges of 80 KB: above any eager limit (shared memory 4 KB, TCP 64 KB)
    p.clocks = 60;
    p.pull_every_clock = false;
    p.gradient = [](int w, std::int64_t c, std::span<const float>, std::span<float> g) {
      for (std::size_t k = 0; k < g.size(); ++k) g[k] = float((std::int64_t(k) + 3 * w + c) % 5);
    };
    p.config.optimizer = {.name = "sgd", .momentum = 0};
    p.config.staleness = staleness;
    const Outcome o = run_job(dtlab::Comm::world(), p);
    if (!o.in_job) continue;
    std::vector<double> sum(p.n, 0.0);
    for (int w = 0; w < p.workers; ++w)
      for (std::int64_t c = 0; c < p.clocks; ++c)
        for (std::size_t k = 0; k < p.n; ++k) sum[k] -= double((std::int64_t(k) + 3 * w + c) % 5) / p.workers;
    std::size_t wrong = 0;
    for (std::size_t k = 0; k < p.n; ++k) wrong += double(o.params[k]) != sum[k];
    EXPECT_EQ(wrong, 0u) << "keys differ from the sum of every push (mean over workers)";
    if (!o.server && staleness == 0) {
      // No ASSERT here or below a collective: a rank leaving the test early would strand the others.
      EXPECT_EQ(o.pulls.size(), 1u);
      std::size_t stale = 0;
      for (std::size_t k = 0; k < p.n && !o.pulls.empty(); ++k) stale += double(o.pulls[0][k]) != sum[k];
      EXPECT_EQ(stale, 0u) << "BSP: the pull after the last clock must hold every clock before it";
    }
  }
}

// ---- failures and stopping ----

TEST(Failures, DeadWorkerIsNoticedByTimeoutAndTheOthersGoOn) {
  DTLAB_NEEDS_RANKS(5);
  for (int staleness : {0, 2, kAsync}) {
    SCOPED_TRACE(testing::Message() << "staleness " << staleness);
    const OneHot h{.workers = 3, .clocks = 6};
    Plan p;
    p.servers = 2;
    p.workers = 3;
    p.n = std::size_t(2 * h.residues());
    p.clocks = h.clocks;
    p.gradient = h.gradient();
    p.config.optimizer = {.name = "sgd", .momentum = 0};
    p.config.staleness = staleness;
    p.config.timeout = 0.5;
    p.dies = 1;
    p.dies_at = 2;  // worker 1 pushes clocks 0 and 1, then falls silent
    const double t0 = dtlab::steady_seconds();
    const Outcome o = run_job(dtlab::Comm::world(), p);
    const double took = dtlab::steady_seconds() - t0;
    if (!o.in_job) continue;
    if (o.server) {
      EXPECT_EQ(o.report.dead, std::vector<int>{1}) << "server " << o.index << " must take worker 1, and only it, for dead";
      EXPECT_EQ(o.report.pushes, 2 * 6 + 2);
    }
    EXPECT_LT(took, 20.0) << "noticing the dead worker took far longer than the 0.5 s timeout";
    // Clocks 0 and 1 are the mean of 3 pushes; the later ones of the 2 live workers' (BSP, SSP),
    // or every push scaled by 1/3 (ASP).
    EXPECT_EQ(first_unexpected_key(o.params, h, [&](std::int64_t w, std::int64_t c) {
                const bool pushed = w != 1 || c < 2;
                const double live = staleness == kAsync || c < 2 ? 3 : 2;
                return pushed ? -1.0 / live : 0.0;
              }),
              "");
  }
}

TEST(Failures, SlowWorkerIsNotTakenForDead) {
  DTLAB_NEEDS_RANKS(3);
  Plan p;
  p.servers = 1;
  p.workers = 2;
  p.n = 40;
  p.clocks = 4;
  p.gradient = dyadic_gradient(5);
  p.config.timeout = 2.0;
  // Worker 1 computes for 0.4 s at clock 2 (well within the timeout); worker 0 waits for it at a
  // deferred pull meanwhile, which is not silence either.
  p.before_push = [](int w, std::int64_t c) {
    if (w == 1 && c == 2) std::this_thread::sleep_for(std::chrono::milliseconds(400));
  };
  const Outcome o = run_job(dtlab::Comm::world(), p);
  if (o.in_job && o.server) {
    EXPECT_TRUE(o.report.dead.empty()) << "a worker slower than usual but within the timeout was taken for dead";
  }
}

TEST(Stop, WorkersThatStopAtDifferentClocksStopEveryServer) {
  DTLAB_NEEDS_RANKS(5);
  for (int staleness : {0, 1, kAsync}) {
    SCOPED_TRACE(testing::Message() << "staleness " << staleness);
    const OneHot h{.workers = 3, .clocks = 7};
    Plan p;
    p.servers = 2;
    p.workers = 3;
    p.n = std::size_t(2 * h.residues() + 3);
    p.clocks_of = {7, 3, 5};  // worker 1 is done after 3 clocks, worker 2 after 5
    p.gradient = h.gradient();
    p.config.optimizer = {.name = "sgd", .momentum = 0};
    p.config.staleness = staleness;
    const Outcome o = run_job(dtlab::Comm::world(), p);
    if (!o.in_job) continue;
    if (o.server) {
      EXPECT_TRUE(o.report.dead.empty()) << "a worker that finished is not dead";
      EXPECT_EQ(o.report.pushes, 15);
      EXPECT_EQ(o.report.updates, staleness == kAsync ? 15 : 7);
    }
    // Clock c's mean is over the workers that pushed it (ASP: every push scaled by 1/3).
    EXPECT_EQ(first_unexpected_key(o.params, h, [&](std::int64_t w, std::int64_t c) {
                const double pushers = staleness == kAsync ? 3 : 1 + (c < 3) + (c < 5);
                return c < p.clocks_of[std::size_t(w)] ? -1.0 / pushers : 0.0;
              }),
              "");
  }
}

// ---- the op log: every key pushed once per clock, to its owner; all servers at once ----

TEST(OpLog, PushesAndPullsMoveEachRangeOncePerClockToAllServersAtOnce) {
  DTLAB_NEEDS_RANKS(5);
  const Comm world = dtlab::Comm::world();
  auto& log = dtlab::OpLog::instance();
  Plan p;
  p.servers = 3;
  p.workers = 2;
  p.n = 1000;  // ranges of 334, 333 and 333 keys
  p.clocks = 5;
  p.gradient = dyadic_gradient(9);
  world.barrier();
  log.set_enabled(true);
  log.clear();
  const Outcome o = run_job(world, p);
  const std::vector<dtlab::RankLog> logs = dtlab::gather_logs();
  log.set_enabled(false);
  if (world.rank() != 0 || !o.in_job) return;
  // A message of more than 64 bytes carries keys; smaller ones are requests and notices.
  constexpr std::uint64_t kControl = 64;
  const auto range_bytes = [&](int s) { return key_range(p.n, p.servers, s).size() * sizeof(float); };
  const auto sends = [](const dtlab::Op& op) { return op.kind == dtlab::OpKind::send || op.kind == dtlab::OpKind::isend; };
  for (int w = 0; w < p.workers; ++w) {
    const dtlab::RankLog& rl = logs[std::size_t(p.servers + w)];
    SCOPED_TRACE(testing::Message() << "worker " << w);
    std::vector<int> pushes(std::size_t(p.servers)), replies(std::size_t(p.servers));
    // Ops between two waits run at once: a pull must post all its reply receives, and a push all
    // its sends, before it waits for any of them.
    std::vector<std::set<int>> windows(1);
    std::set<int> push_window_servers;
    for (const dtlab::Op& op : rl.ops) {
      if (op.kind == dtlab::OpKind::wait) {
        windows.emplace_back();
        continue;
      }
      if ((op.kind == dtlab::OpKind::send || op.kind == dtlab::OpKind::recv) && op.bytes > kControl)
        ADD_FAILURE() << "a blocking " << dtlab::to_string(op.kind) << " of " << op.bytes << " bytes to or from rank "
                      << op.peer << ": a worker talks to every server at once, so it posts them all before waiting";
      if (op.peer < 0 || op.peer >= p.servers) {
        if (op.kind != dtlab::OpKind::collective && op.kind != dtlab::OpKind::compute)
          ADD_FAILURE() << "a message between worker " << w << " and rank " << op.peer << ", which is not a server";
        continue;
      }
      if (sends(op) && op.bytes > kControl) {
        EXPECT_EQ(op.bytes, range_bytes(op.peer)) << "a push to server " << op.peer << " must carry exactly its range";
        ++pushes[std::size_t(op.peer)];
      }
      if (op.kind == dtlab::OpKind::irecv && op.bytes > kControl) {
        EXPECT_EQ(op.bytes, range_bytes(op.peer)) << "a pull from server " << op.peer << " must receive exactly its range";
        ++replies[std::size_t(op.peer)];
        windows.back().insert(op.peer);
      }
    }
    for (int s = 0; s < p.servers; ++s) {
      EXPECT_EQ(pushes[std::size_t(s)], p.clocks) << "pushes to server " << s << ": one per clock";
      EXPECT_EQ(replies[std::size_t(s)], p.clocks) << "pulls from server " << s << ": one per clock";
    }
    for (const auto& win : windows) {
      if (!win.empty()) {
        EXPECT_EQ(int(win.size()), p.servers) << "a pull waited for a reply before it had asked every server: "
                                                 "servers answer one after another instead of all at once";
      }
    }
  }
  for (int s = 0; s < p.servers; ++s) {
    std::uint64_t data = 0, control = 0;
    for (const dtlab::Op& op : logs[std::size_t(s)].ops)
      if (sends(op)) (op.bytes > kControl ? data : control) += op.bytes;
    EXPECT_EQ(data, std::uint64_t(p.workers * p.clocks) * range_bytes(s))
        << "server " << s << " sends each worker its range once per pull, and nothing else of size";
    EXPECT_LE(control, std::uint64_t(p.workers * p.clocks) * 2 * kControl) << "server " << s << ": control messages";
  }
}

}  // namespace
}  // namespace lab04
