// Helpers shared by Lab 04's public and hidden tests and its benchmark: a job of servers and
// workers run on the first S + W ranks of the world, the gradients that make every mistake
// visible, and the oracles (synchronous SGD computed serially; which pushes a pulled model holds,
// read back from its values). Test code may use the library collectives; the implementation under
// test may not.
#pragma once

#include <gtest/gtest.h>

#include "lab_test.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "dtlab/baseline.hpp"
#include "dtlab/error.hpp"
#include "dtlab/rng.hpp"
#include "lab04/parameter_server.hpp"

namespace lab04::test {

using dtlab::labtest::guarded;

// Every test gets 60 s (each takes a few seconds at most), then the job is ended with a message.
inline const bool kWatching = dtlab::labtest::watch_every_test(
    60, "a worker or server is waiting for a message that never comes (a pull never answered, a push never received, "
        "a finish never noticed)");

using Gradient = std::function<void(int worker, std::int64_t clock, std::span<const float> params, std::span<float> grads)>;

// One run of a parameter server job.
struct Plan {
  int servers = 1, workers = 1;
  std::size_t n = 0;
  std::vector<float> initial;  // n values; zeros when empty
  ServerConfig config;
  std::int64_t clocks = 4;          // clocks of every worker...
  std::vector<std::int64_t> clocks_of;  // ...unless given per worker
  Gradient gradient;
  // Called by a worker before each push: where a test makes a worker slow.
  std::function<void(int worker, std::int64_t clock)> before_push;
  int dies = -1;               // this worker stops for good when it reaches clock dies_at: it
  std::int64_t dies_at = 0;    // neither pulls, pushes nor finishes again
  bool keep_pulls = false;     // workers keep what every pull returned
  bool pull_every_clock = true;  // false: push every clock, pull once at the end (ps-lite's test)
};

struct Outcome {
  bool in_job = false;
  bool server = false;
  int index = 0;                    // server s or worker w
  std::vector<float> params;        // the servers' final parameters, on every rank of the job
  ServerReport report;              // a server's
  std::vector<std::vector<float>> pulls;  // a worker's (keep_pulls; or the final pull)
};

// Fills in defaults: zeros, a constant learning rate of 1 and plain SGD unless set.
inline Plan with_defaults(Plan p) {
  if (p.initial.empty()) p.initial.assign(p.n, 0.0f);
  if (!p.config.lr) p.config.lr = [](std::int64_t) { return 1.0; };
  return p;
}

// Runs plan on the first servers + workers ranks of comm (the others only wait); collective over
// comm. On the job's ranks, what each did, and every server's final parameters assembled.
inline Outcome run_job(const Comm& comm, Plan plan) {
  plan = with_defaults(std::move(plan));
  const int size = plan.servers + plan.workers;
  Outcome out;
  const Comm job = comm.split(comm.rank() < size ? 0 : -1, comm.rank());
  if (!job.valid()) {
    comm.barrier();
    return out;
  }
  out.in_job = true;
  const Roles roles = make_roles(job, plan.servers);
  out.server = roles.is_server(job.rank());
  out.index = out.server ? job.rank() : roles.worker_of(job.rank());
  std::vector<float> assembled(plan.n, 0.0f);
  if (out.server) {
    guarded([&](const Comm&) {
      Server server(job, roles, plan.initial, plan.config);
      out.report = server.run();
      const KeyRange r = server.range();
      std::copy(server.params().begin(), server.params().end(), assembled.begin() + std::ptrdiff_t(r.begin));
    }, job);
  } else {
    guarded([&](const Comm&) {
      const int w = out.index;
      const std::int64_t clocks = plan.clocks_of.empty() ? plan.clocks : plan.clocks_of[std::size_t(w)];
      Worker worker(job, roles, plan.n);
      std::vector<float> params(plan.n), grads(plan.n);
      for (std::int64_t c = 0; c < clocks; ++c) {
        if (w == plan.dies && c == plan.dies_at) return;  // dead: silent from here on
        if (plan.pull_every_clock || c == 0) {
          worker.pull(params);
          if (plan.keep_pulls) out.pulls.push_back(params);
        }
        EXPECT_EQ(worker.clock(), c) << "worker " << w << ": clock() after " << c << " pushes";
        plan.gradient(w, c, params, grads);
        if (plan.before_push) plan.before_push(w, c);
        worker.push(grads);
      }
      if (!plan.pull_every_clock) {
        worker.pull(params);
        out.pulls.push_back(params);
      }
      worker.finish();
    }, job);
  }
  // Every key is owned by one server, whose values arrive here; the rest add zeros.
  dtlab::baseline::allreduce(job, std::span<float>(assembled));
  out.params = std::move(assembled);
  comm.barrier();
  return out;
}

// Runs body on every rank of the world when it has at least `ranks` ranks, else skips.
// ---- the one-hot gradients: which pushes a model holds, read from its values ----
//
// Key k stands for update (w, c) = (r / C, r % C) with r = k mod (W C): worker w's push at clock c
// is 1 on those keys and 0 elsewhere. With SGD at learning rate 1, no momentum and zeros to start,
// key k then holds -1/W when that push has been applied (a mean over W pushes, or ASP's 1/W), 0
// when not, and anything else when it was applied twice, scaled wrongly or written to the wrong
// place. Every server's range holds every update when n >= S W C.
struct OneHot {
  int workers = 1;
  std::int64_t clocks = 1;
  std::int64_t residues() const { return std::int64_t(workers) * clocks; }
  Gradient gradient() const {
    return [*this](int w, std::int64_t c, std::span<const float>, std::span<float> g) {
      for (std::size_t k = 0; k < g.size(); ++k) g[k] = std::int64_t(k) % residues() == w * clocks + c ? 1.0f : 0.0f;
    };
  }
};

// What a pulled model's keys [begin, end) hold: included[w][c] for every update, or a problem.
struct Holds {
  std::vector<std::vector<char>> included;
  std::string problem;
  // The largest v such that every worker's clocks 0..v-1 are all included.
  std::int64_t version() const {
    std::int64_t v = std::numeric_limits<std::int64_t>::max();
    for (const auto& row : included) {
      std::int64_t p = 0;
      while (p < std::int64_t(row.size()) && row[std::size_t(p)]) ++p;
      v = std::min(v, p);
    }
    return v;
  }
  // Whether exactly the clocks 0..v-1 of every worker are included, nothing of a later clock.
  bool whole_clocks() const {
    const std::int64_t v = version();
    for (const auto& row : included)
      for (std::size_t c = 0; c < row.size(); ++c)
        if (bool(row[c]) != (std::int64_t(c) < v)) return false;
    return true;
  }
};

inline Holds read_holds(std::span<const float> model, const OneHot& h, std::size_t begin, std::size_t end) {
  Holds out;
  out.included.assign(std::size_t(h.workers), std::vector<char>(std::size_t(h.clocks), 0));
  std::vector<std::vector<int>> seen(std::size_t(h.workers), std::vector<int>(std::size_t(h.clocks), -1));
  const double one = 1.0 / h.workers;
  for (std::size_t k = begin; k < end; ++k) {
    const std::int64_t r = std::int64_t(k) % h.residues();
    const auto w = std::size_t(r / h.clocks), c = std::size_t(r % h.clocks);
    const double v = -double(model[k]);
    int got = -1;
    if (std::abs(v) < 1e-6) got = 0;
    else if (std::abs(v - one) < 1e-6) got = 1;
    if (got < 0 || (seen[w][c] >= 0 && seen[w][c] != got)) {
      out.problem = "key " + std::to_string(k) + " holds " + std::to_string(model[k]) + ", where update (worker " +
                    std::to_string(w) + ", clock " + std::to_string(c) + ") makes every one of its keys 0 before it " +
                    "is applied and -1/" + std::to_string(h.workers) +
                    " after (once, scaled by 1/W, at its own keys)";
      return out;
    }
    seen[w][c] = got;
    out.included[w][c] = char(got);
  }
  return out;
}

// The first key of a one-hot model that does not hold want(w, c) for its update (w, c), said in
// words; empty when every key does. For runs where clocks are means over fewer than W pushes.
inline std::string first_unexpected_key(std::span<const float> model, const OneHot& h,
                                        const std::function<double(std::int64_t w, std::int64_t c)>& want) {
  for (std::size_t k = 0; k < model.size(); ++k) {
    const std::int64_t r = std::int64_t(k) % h.residues(), w = r / h.clocks, c = r % h.clocks;
    const double expected = want(w, c);
    if (std::abs(double(model[k]) - expected) > 1e-6)
      return "key " + std::to_string(k) + " (worker " + std::to_string(w) + ", clock " + std::to_string(c) +
             ") holds " + std::to_string(model[k]) + ", expected " + std::to_string(expected);
  }
  return "";
}

// ---- serial synchronous SGD: the oracle BSP is compared with ----

// Plain SGD with momentum mu (PyTorch's rule, no Nesterov, no weight decay) on the mean of the W
// workers' gradients, clock after clock, in double precision. With dyadic inputs (below) every
// intermediate value is exact in float as well, so the server's float result must equal it to
// the bit, whatever order it sums the pushes in.
inline std::vector<double> synchronous_sgd(const Plan& p, double mu) {
  const Plan plan = with_defaults(p);
  std::vector<double> x(plan.initial.begin(), plan.initial.end()), v(plan.n, 0.0), mean(plan.n);
  std::vector<float> xf(plan.n), g(plan.n);
  for (std::int64_t c = 0; c < plan.clocks; ++c) {
    std::fill(mean.begin(), mean.end(), 0.0);
    for (std::size_t k = 0; k < plan.n; ++k) xf[k] = float(x[k]);
    for (int w = 0; w < plan.workers; ++w) {
      plan.gradient(w, c, xf, g);
      for (std::size_t k = 0; k < plan.n; ++k) mean[k] += double(g[k]) / plan.workers;
    }
    for (std::size_t k = 0; k < plan.n; ++k) {
      v[k] = c == 0 ? mean[k] : mu * v[k] + mean[k];
      x[k] -= plan.config.lr(c) * v[k];
    }
  }
  return x;
}

// Integer gradients that depend on the parameters read (floor(4 x)) and differ by worker, clock and
// key (a draw from [-4, 4]): a read of the wrong parameters changes them, yet they stay integers,
// so sums are exact.
inline Gradient dyadic_gradient(std::uint64_t seed) {
  return [seed](int w, std::int64_t c, std::span<const float> x, std::span<float> g) {
    dtlab::Rng rng(seed * 1000003 + std::uint64_t(w) * 7919 + std::uint64_t(c));
    for (std::size_t k = 0; k < g.size(); ++k) g[k] = float(int(rng.below(9)) - 4) + std::floor(4 * x[k]);
  };
}

// Parameters that are multiples of 1/16, from a seed.
inline std::vector<float> dyadic_values(std::size_t n, std::uint64_t seed) {
  dtlab::Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = float(int(rng.below(33)) - 16) / 16.0f;
  return v;
}

// BSP against serial synchronous SGD, to the bit, on a job of S servers and W workers, n keys and
// the given clocks: parameters that are multiples of 1/16 (from values_seed), integer gradients (from
// gradient_seed), momentum 0.5 and a learning rate lr(c) that is a power of two. Every value is
// then a multiple of a power of two with few significant bits, so float sums are exact in any
// order: one bit off is a mistake, not rounding. The worker count must be a power of two, so that
// the mean is exact too.
inline void expect_bsp_equals_sync_sgd(int servers, int workers, std::size_t n, std::int64_t clocks,
                                       std::uint64_t values_seed, std::uint64_t gradient_seed,
                                       std::function<double(std::int64_t)> lr) {
  DTLAB_NEEDS_RANKS(servers + workers);
  Plan p;
  p.servers = servers;
  p.workers = workers;
  p.n = n;
  p.clocks = clocks;
  SCOPED_TRACE(testing::Message() << p.servers << " servers, " << p.workers << " workers, " << p.n << " keys");
  p.initial = dyadic_values(p.n, values_seed);
  p.gradient = dyadic_gradient(gradient_seed);
  p.config.optimizer = {.name = "sgd", .momentum = 0.5};
  p.config.lr = std::move(lr);
  const std::vector<double> want = synchronous_sgd(p, 0.5);
  const Outcome o = run_job(dtlab::Comm::world(), p);
  if (!o.in_job) return;
  std::size_t wrong = 0, first = 0;
  for (std::size_t k = 0; k < p.n; ++k)
    if (double(o.params[k]) != want[k] && wrong++ == 0) first = k;
  EXPECT_EQ(wrong, 0u) << "keys differ from synchronous SGD, the first is key " << first << ": "
                       << (wrong ? o.params[first] : 0.0f) << " where SGD on the mean of the pushes, one step "
                       << "per clock, gives " << (wrong ? want[first] : 0.0);
  if (o.server) {
    EXPECT_EQ(o.report.updates, p.clocks) << "BSP takes one optimizer step per clock";
    EXPECT_EQ(o.report.pushes, p.clocks * p.workers);
    EXPECT_TRUE(o.report.dead.empty());
  }
}

}  // namespace lab04::test
