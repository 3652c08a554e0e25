// Helpers shared by Lab 05's public and hidden tests and its benchmark: jobs made of the first p
// ranks, an asynchronous SGD job with its serial replay, a Hogwild problem whose arithmetic is
// exact, the serial oracles of local SGD and DiLoCo, and gossip's mixing matrix built from its
// definition. Test code may use the library collectives; the implementation under test may not.
#pragma once

#include <gtest/gtest.h>

#include "lab_test.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "dtlab/baseline.hpp"
#include "dtlab/error.hpp"
#include "dtlab/oplog.hpp"
#include "dtlab/rng.hpp"
#include "lab05/async_sgd.hpp"
#include "lab05_oracles.hpp"

namespace lab05::test {

using dtlab::labtest::guarded;

// Every test gets 60 s (each takes a few seconds at most), then the job is ended with a message.
inline const bool kWatching = dtlab::labtest::watch_every_test(
    60, "a rank is waiting for a message that never comes (a step never answered, a finish never sent, a neighbour "
        "that never sends)");

// The first p ranks of the world as a communicator; an empty Comm on the others.
inline Comm first(int p) {
  const Comm world = Comm::world();
  return world.split(world.rank() < p ? 0 : -1, world.rank());
}

// ---- Part 1: asynchronous SGD ----

// A worker's gradient: a function of the model it read, so that a stale or wrong read shows.
using Gradient = std::function<void(int worker, std::int64_t step, std::span<const float> params, std::span<float> grads)>;

// g[k] = ((floor(64 p[k]) + k + 3 w + s) mod 7 - 3) / 4: small multiples of 1/4 that depend on
// every parameter's value.
inline Gradient value_gradient() {
  return [](int w, std::int64_t s, std::span<const float> p, std::span<float> g) {
    for (std::size_t k = 0; k < p.size(); ++k) {
      const auto q = std::int64_t(std::floor(64.0 * double(p[k]))) + std::int64_t(k) + 3 * w + s;
      g[k] = float(((q % 7) + 7) % 7 - 3) * 0.25f;
    }
  };
}

struct AsyncPlan {
  int workers = 3;
  std::size_t n = 0;
  std::vector<float> initial;  // n values; zeros when empty
  AsyncConfig config;
  std::int64_t steps = 5;      // per worker
  Gradient gradient;
  bool round_robin = false;    // the workers take turns (start, then step by step): staleness W-1
};

struct AsyncOutcome {
  bool in_job = false;
  AsyncReport report;                  // the server's, on every rank of the job
  std::vector<float> params;           // the server's final model, on every rank of the job
  std::vector<std::vector<float>> last;  // per worker: the model its last step returned (all ranks)
  std::vector<std::int64_t> versions;    // per worker: the version it last received
};

// Runs plan on ranks 0..workers of the world (the others only wait); collective over the world.
inline AsyncOutcome run_async(AsyncPlan plan) {
  if (plan.initial.empty()) plan.initial.assign(plan.n, 0.0f);
  if (!plan.config.lr) plan.config.lr = [](std::int64_t) { return 0.5; };
  const Comm world = Comm::world();
  const int size = plan.workers + 1;
  AsyncOutcome out;
  const Comm job = first(size);
  if (!job.valid()) {
    world.barrier();
    return out;
  }
  // The turns go round on a communicator of their own, so that they never meet the lab's messages.
  const Comm turns = job.split(0, job.rank());
  out.in_job = true;
  std::vector<float> mine(plan.n, 0.0f);
  std::int64_t version = -1;
  if (job.rank() == 0) {
    guarded([&](const Comm&) {
      AsyncServer server(job, plan.initial, plan.config);
      out.report = server.run();
      out.params.assign(server.params().begin(), server.params().end());
    }, job);
  } else {
    const int w = job.rank() - 1;
    const bool rr = plan.round_robin && plan.workers > 1;
    std::vector<float> grads(plan.n);
    std::unique_ptr<AsyncWorker> worker;
    bool failed = false;
    // One turn: wait for the previous worker's (unless this is the very first), do op, pass it on.
    // A worker whose op threw still takes its turns, so that the others are not left waiting.
    const auto turn = [&](bool very_first, const std::function<void()>& op) {
      std::int32_t token[1] = {0};
      if (rr && !very_first) turns.recv(std::span<std::int32_t>(token), w == 0 ? plan.workers : w);
      if (!failed) {
        try {
          op();
        } catch (const std::exception& e) {
          ADD_FAILURE() << "worker " << w << ": " << e.what();
          failed = true;
        }
      }
      if (rr) turns.send(std::span<const std::int32_t>(token), w + 1 < plan.workers ? w + 2 : 1);
    };
    turn(w == 0, [&] {
      worker = std::make_unique<AsyncWorker>(job, plan.n);
      worker->start(mine);
      version = worker->version();
    });
    for (std::int64_t s = 0; s < plan.steps; ++s)
      turn(false, [&] {
        plan.gradient(w, s, mine, grads);
        worker->step(grads, mine);
        version = worker->version();
      });
    // The last worker's last turn passed a token that nobody takes: worker 0 takes it back.
    if (rr && w == 0) {
      std::int32_t token[1];
      turns.recv(std::span<std::int32_t>(token), plan.workers);
    }
    if (!failed) guarded([&](const Comm&) { worker->finish(); }, job);
  }
  // Everything every rank needs to judge: the report, the model, what each worker last held.
  std::int64_t count[1] = {std::int64_t(out.report.updates.size())};
  dtlab::baseline::broadcast(job, std::span<std::int64_t>(count), 0);
  const auto updates = std::size_t(count[0]);
  std::vector<double> records(updates * 4);
  for (std::size_t u = 0; u < out.report.updates.size(); ++u) {
    const UpdateRecord& r = out.report.updates[u];
    records[4 * u] = r.worker, records[4 * u + 1] = double(r.read), records[4 * u + 2] = double(r.version), records[4 * u + 3] = r.lr;
  }
  dtlab::baseline::broadcast(job, std::span<double>(records), 0);
  out.report.updates.clear();
  for (std::size_t u = 0; u < updates; ++u)
    out.report.updates.push_back({int(records[4 * u]), std::int64_t(records[4 * u + 1]), std::int64_t(records[4 * u + 2]),
                                  records[4 * u + 3]});
  out.params.resize(plan.n);
  dtlab::baseline::broadcast(job, std::span<float>(out.params), 0);
  out.last.assign(std::size_t(plan.workers), std::vector<float>(plan.n));
  out.versions.assign(std::size_t(plan.workers), -1);
  for (int w = 0; w < plan.workers; ++w) {
    if (job.rank() == w + 1) {
      out.last[std::size_t(w)] = mine;
      out.versions[std::size_t(w)] = version;
    }
    dtlab::baseline::broadcast(job, std::span<float>(out.last[std::size_t(w)]), w + 1);
    dtlab::baseline::broadcast(job, std::span<std::int64_t>(&out.versions[std::size_t(w)], 1), w + 1);
  }
  world.barrier();
  return out;
}

// The serial replay of an asynchronous run: the updates in the order the report gives, each
// worker's gradient computed on the model at the version it read (the oracle keeps every version
// a worker may still hold), each applied with the optimizer at the rate the report says, after
// checking that rate against the base rate and the staleness. Checks the report's bookkeeping on
// the way: versions 0, 1, 2, ... in order, a worker's next read the version after its last
// update, every worker's steps all there. Returns the model at every version (0 the initial).
inline std::vector<std::vector<float>> replay_async(const AsyncPlan& plan, const AsyncOutcome& o) {
  std::vector<float> model = plan.initial.empty() ? std::vector<float>(plan.n, 0.0f) : plan.initial;
  std::vector<std::vector<float>> versions = {model};  // the model at every version
  auto opt = dtlab::make_optimizer(plan.config.optimizer, plan.n);
  std::vector<std::int64_t> steps(std::size_t(plan.workers), 0), next_read(std::size_t(plan.workers), -1);
  std::vector<float> grads(plan.n);
  const auto lr_of = plan.config.lr ? plan.config.lr : [](std::int64_t) { return 0.5; };
  for (std::size_t u = 0; u < o.report.updates.size(); ++u) {
    const UpdateRecord& r = o.report.updates[u];
    SCOPED_TRACE(testing::Message() << "update " << u << ": worker " << r.worker << " read version " << r.read
                                    << ", applied as update " << r.version);
    if (r.version != std::int64_t(u)) {
      ADD_FAILURE() << "the server's versions must count its updates: 0, 1, 2, ...";
      return versions;
    }
    if (r.worker < 0 || r.worker >= plan.workers) {
      ADD_FAILURE() << "no such worker";
      return versions;
    }
    std::int64_t& expected_read = next_read[std::size_t(r.worker)];
    if (r.read < 0 || r.read > r.version || (expected_read >= 0 && r.read != expected_read)) {
      ADD_FAILURE() << "the worker's gradient was computed on the model its previous step returned, version "
                    << expected_read << " (or, for its first step, the model start() returned)";
      return versions;
    }
    // Zhang et al.'s rate, written here independently of the lab's step_lr.
    const double base = lr_of(r.version);
    const double want_lr = plan.config.staleness_aware && r.staleness() > 0 ? base / double(r.staleness()) : base;
    if (!(std::abs(r.lr - want_lr) <= 1e-12 * std::abs(want_lr))) {
      ADD_FAILURE() << "learning rate " << r.lr << ", expected " << want_lr << " (base rate of update " << r.version
                    << ", staleness " << r.staleness() << (plan.config.staleness_aware ? ", staleness-aware" : "") << ")";
      return versions;
    }
    plan.gradient(r.worker, steps[std::size_t(r.worker)]++, versions[std::size_t(r.read)], grads);
    opt->step(model, grads, r.lr);
    versions.push_back(model);
    expected_read = r.version + 1;
  }
  for (int w = 0; w < plan.workers; ++w)
    EXPECT_EQ(steps[std::size_t(w)], plan.steps) << "worker " << w << "'s updates in the server's report";
  return versions;
}

// ---- Part 2: Hogwild! ----

// A problem whose arithmetic is exact: coordinate values stay multiples of 1/256 of modest size,
// and a step's gradient on coordinate j is a small multiple of 1/8 that depends on w[j] and on
// the step, so that any read of a wrong value, any wrong order, any update lost or doubled shows
// in the bits. Step i touches `per_step` distinct coordinates drawn from a seed, or all of them.
class ExactProblem : public HogwildProblem {
 public:
  ExactProblem(std::size_t dim, std::size_t steps, std::size_t per_step, std::uint64_t seed) : dim_(dim), steps_(steps) {
    if (per_step == 0) return;  // dense
    dtlab::Rng rng(seed);
    for (std::size_t i = 0; i < steps; ++i) {
      std::vector<std::uint32_t> row;
      while (row.size() < per_step) {
        const auto j = std::uint32_t(rng.below(dim));
        if (std::find(row.begin(), row.end(), j) == row.end()) row.push_back(j);
      }
      std::sort(row.begin(), row.end());
      rows_.push_back(row);
    }
  }
  std::size_t dim() const override { return dim_; }
  std::size_t steps() const override { return steps_; }
  std::span<const std::uint32_t> touched(std::size_t i) const override {
    return rows_.empty() ? std::span<const std::uint32_t>() : std::span<const std::uint32_t>(rows_[i]);
  }
  std::unique_ptr<Scratch> scratch() const override { return std::make_unique<Scratch>(); }
  double gradient(std::size_t i, std::span<const float> w, Scratch&, std::span<float> g) const override {
    const auto idx = touched(i);
    if (w.size() != (idx.empty() ? dim_ : idx.size()) || g.size() != w.size())
      throw dtlab::Error("ExactProblem::gradient: w and g must hold the touched coordinates");
    for (std::size_t k = 0; k < w.size(); ++k) {
      const std::size_t j = idx.empty() ? k : idx[k];
      const auto q = std::int64_t(std::floor(double(w[k]) * 256.0)) + std::int64_t(j) + std::int64_t(i);
      g[k] = float((q % 5 + 5) % 5 - 2) * 0.125f;
    }
    return 0;
  }
  double loss(std::span<const float> w) const override {
    double s = 0;
    for (const float x : w) s += double(x) * x;
    return s;
  }

 private:
  std::size_t dim_, steps_;
  std::vector<std::vector<std::uint32_t>> rows_;
};

// A problem whose gradients do not depend on w, so that the result of every step taken once is
// the same in any order: w[j] = w0[j] - sum over epochs of lr_e * g(i, j). Step i touches
// coordinates i * per_step .. (i + 1) * per_step - 1 (no two steps share one: no update can be
// lost, with or without the lock), or with dense every coordinate (every step collides).
class ConstantProblem : public HogwildProblem {
 public:
  ConstantProblem(std::size_t steps, std::size_t per_step, bool dense)
      : steps_(steps), per_step_(per_step), dense_(dense), index_(steps * per_step) {
    std::iota(index_.begin(), index_.end(), 0u);
  }
  std::size_t dim() const override { return steps_ * per_step_; }
  std::size_t steps() const override { return steps_; }
  std::span<const std::uint32_t> touched(std::size_t i) const override {
    if (dense_) return {};
    return std::span<const std::uint32_t>(index_).subspan(i * per_step_, per_step_);
  }
  std::unique_ptr<Scratch> scratch() const override { return std::make_unique<Scratch>(); }
  static float g(std::size_t i, std::size_t j) { return float(std::int64_t((i * 7 + j * 3) % 5) - 2) * 0.125f; }
  double gradient(std::size_t i, std::span<const float> w, Scratch&, std::span<float> out) const override {
    const auto idx = touched(i);
    for (std::size_t k = 0; k < w.size(); ++k) out[k] = g(i, idx.empty() ? k : idx[k]);
    return 0;
  }
  double loss(std::span<const float>) const override { return 0; }
  // w0 after the steps of `epochs` epochs, each taken once.
  std::vector<float> expected(const HogwildConfig& c) const {
    std::vector<float> w(dim(), 0.0f);
    for (int e = 0; e < c.epochs; ++e) {
      const float lr = float(c.lr * std::pow(c.decay, double(e)));
      for (std::size_t i = 0; i < steps_; ++i) {
        const auto idx = touched(i);
        for (std::size_t k = 0; k < (dense_ ? dim() : per_step_); ++k) {
          const std::size_t j = idx.empty() ? k : idx[k];
          w[j] = w[j] - lr * g(i, j);
        }
      }
    }
    return w;
  }

 private:
  std::size_t steps_, per_step_;
  bool dense_;
  std::vector<std::uint32_t> index_;
};

// Counts how many threads are inside gradient() at once. Step i touches coordinate i mod 64 and
// its gradient is 0; each call sleeps 100 us, long enough that threads running at once overlap in
// it, and sleeping, so that they do even on one core.
class ConcurrencyProblem : public HogwildProblem {
 public:
  explicit ConcurrencyProblem(std::size_t steps) : steps_(steps), index_(64) {
    std::iota(index_.begin(), index_.end(), 0u);
  }
  std::size_t dim() const override { return index_.size(); }
  std::size_t steps() const override { return steps_; }
  std::span<const std::uint32_t> touched(std::size_t i) const override {
    return std::span<const std::uint32_t>(index_).subspan(i % index_.size(), 1);
  }
  std::unique_ptr<Scratch> scratch() const override { return std::make_unique<Scratch>(); }
  double gradient(std::size_t, std::span<const float>, Scratch&, std::span<float> g) const override {
    const int now = ++inside_;
    for (int seen = most_.load(); now > seen && !most_.compare_exchange_weak(seen, now);) {
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
    --inside_;
    std::fill(g.begin(), g.end(), 0.0f);
    return 0;
  }
  double loss(std::span<const float>) const override { return 0; }
  int most_at_once() const { return most_.load(); }

 private:
  std::size_t steps_;
  std::vector<std::uint32_t> index_;
  mutable std::atomic<int> inside_{0}, most_{0};
};

// Serial SGD as hogwild() with one thread must do it: every epoch's order, each step reading,
// computing and writing before the next.
inline void serial_sgd(const HogwildProblem& problem, std::span<float> w, const HogwildConfig& c) {
  const auto scratch = problem.scratch();
  std::vector<float> local, g;
  for (int e = 0; e < c.epochs; ++e) {
    const float lr = float(c.lr * std::pow(c.decay, double(e)));
    for (const std::uint32_t i : epoch_order(problem.steps(), e, c.seed)) {
      const auto idx = problem.touched(i);
      const std::size_t m = idx.empty() ? w.size() : idx.size();
      local.resize(m);
      g.resize(m);
      for (std::size_t k = 0; k < m; ++k) local[k] = w[idx.empty() ? k : idx[k]];
      problem.gradient(i, local, *scratch, g);
      for (std::size_t k = 0; k < m; ++k) {
        float& x = w[idx.empty() ? k : idx[k]];
        x = x - lr * g[k];
      }
    }
  }
}

// How the steps of one epoch split over T threads: contiguous blocks, the larger first.
inline std::int64_t block_size(std::size_t steps, int T, int t) {
  return std::int64_t(steps / std::size_t(T) + (std::size_t(t) < steps % std::size_t(T) ? 1 : 0));
}

// ---- Part 3: local SGD and DiLoCo ----

// Rank r's gradient at step s: small multiples of 1/8 that depend on the parameters, the rank and
// the step, so that every rank's model differs between synchronisations.
inline void local_gradient(int r, std::int64_t s, std::span<const float> p, std::span<float> g) {
  for (std::size_t k = 0; k < p.size(); ++k) {
    const auto q = std::int64_t(std::floor(32.0 * double(p[k]))) + std::int64_t(k) + 5 * r + 2 * s;
    g[k] = float(((q % 9) + 9) % 9 - 4) * 0.125f;
  }
}

enum class Method { sync, local, diloco };

struct LocalPlan {
  Method method = Method::local;
  int ranks = 2;
  std::size_t n = 40;
  int H = 3;
  std::int64_t steps = 12;
  dtlab::OptimizerConfig inner{.name = "sgd", .momentum = 0.5};
  double lr = 0.25;
  OuterConfig outer{.lr = 0.5, .momentum = 0.5, .nesterov = true};
  std::vector<float> initial;  // n values; a seeded pattern of multiples of 1/64 when empty
};

inline std::vector<float> initial_of(const LocalPlan& p) {
  if (!p.initial.empty()) return p.initial;
  std::vector<float> x(p.n);
  for (std::size_t k = 0; k < p.n; ++k) x[k] = float(std::int64_t(k * 37 % 29) - 14) / 64.0f;
  return x;
}

// Runs the plan through the lab's classes on the first `ranks` ranks (sync: the library
// allreduce of the gradients every step, what local SGD and DiLoCo are measured against).
// Returns every rank's final model on rank 0 of the job (ranks x n), nothing elsewhere. With log,
// the op log holds the training loop's operations only (cleared before it, off after it).
inline std::vector<float> run_local(const LocalPlan& p, const Comm& job, bool log = false) {
  std::vector<float> params = initial_of(p), grads(p.n);
  auto opt = dtlab::make_optimizer(p.inner, p.n);
  std::unique_ptr<LocalSgd> local;
  std::unique_ptr<DiLoCo> diloco;
  if (p.method == Method::local) local = std::make_unique<LocalSgd>(job, p.H);
  if (p.method == Method::diloco) diloco = std::make_unique<DiLoCo>(job, params, p.H, p.outer);
  if (log) {
    dtlab::OpLog::instance().clear();
    dtlab::OpLog::instance().set_enabled(true);
  }
  for (std::int64_t s = 0; s < p.steps; ++s) {
    local_gradient(job.rank(), s, params, grads);
    if (p.method == Method::sync) {
      dtlab::baseline::allreduce(job, std::span<float>(grads));
      opt->step(params, grads, p.lr, 1.0f / float(job.size()));
    } else {
      opt->step(params, grads, p.lr);
      local ? local->after_step(params) : diloco->after_step(params);
    }
  }
  dtlab::OpLog::instance().set_enabled(false);
  std::vector<float> all(std::size_t(job.size()) * p.n);
  dtlab::baseline::allgather(job, std::span<const float>(params), std::span<float>(all));
  return job.rank() == 0 ? all : std::vector<float>();
}

// The same computed serially, every rank's model in one process: sync and local SGD average
// exactly as the definitions say; DiLoCo with its outer optimizer on the mean of global - params.
inline std::vector<float> serial_local(const LocalPlan& p) {
  const auto R = std::size_t(p.ranks);
  std::vector<std::vector<float>> x(R, initial_of(p));
  std::vector<std::unique_ptr<dtlab::Optimizer>> opts;
  for (std::size_t r = 0; r < R; ++r) opts.push_back(dtlab::make_optimizer(p.inner, p.n));
  std::vector<float> global = initial_of(p), delta(p.n), g(p.n);
  auto outer = dtlab::make_optimizer({.name = "sgd", .momentum = p.outer.momentum, .nesterov = p.outer.nesterov}, p.n);
  for (std::int64_t s = 0; s < p.steps; ++s) {
    if (p.method == Method::sync) {
      std::vector<float> sum(p.n, 0.0f);
      for (std::size_t r = 0; r < R; ++r) {
        local_gradient(int(r), s, x[r], g);
        for (std::size_t k = 0; k < p.n; ++k) sum[k] += g[k];
      }
      for (std::size_t r = 0; r < R; ++r) opts[r]->step(x[r], sum, p.lr, 1.0f / float(R));
      continue;
    }
    for (std::size_t r = 0; r < R; ++r) {
      local_gradient(int(r), s, x[r], g);
      opts[r]->step(x[r], g, p.lr);
    }
    if ((s + 1) % p.H != 0) continue;
    if (p.method == Method::local) {
      for (std::size_t k = 0; k < p.n; ++k) {
        float sum = 0;
        for (std::size_t r = 0; r < R; ++r) sum += x[r][k];
        for (std::size_t r = 0; r < R; ++r) x[r][k] = sum / float(R);
      }
    } else {
      for (std::size_t k = 0; k < p.n; ++k) {
        float sum = 0;
        for (std::size_t r = 0; r < R; ++r) sum += global[k] - x[r][k];
        delta[k] = sum;
      }
      outer->step(global, delta, p.outer.lr, 1.0f / float(R));
      for (std::size_t r = 0; r < R; ++r) x[r] = global;
    }
  }
  std::vector<float> all;
  for (const auto& v : x) all.insert(all.end(), v.begin(), v.end());
  return all;
}

}  // namespace lab05::test
