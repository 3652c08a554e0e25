// Lab 04's training loop: dtlab's MLP trained on Fashion-MNIST by a parameter server job, servers
// and workers, with your Server and Worker (or the reference's). Shared by the training program
// (train.cpp) and the straggler experiment (bench_ps.cpp).
//
// Each worker trains on its 1/W of every global batch, as a rank of data parallelism would: one
// clock per batch, clock c's learning rate from the schedule of `dtlab train`. Faults come from the
// seeded plan (--inject): a slow worker sleeps (factor - 1) times the time its step took; a dead
// one stops talking (its process stays, since Open MPI ends the whole job when a rank exits). Worker
// 0 keeps the model it pulled a few times per epoch; after training every rank evaluates them, for
// the epoch lines and the time to the accuracy target.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dtlab/baseline.hpp"
#include "dtlab/error.hpp"
#include "dtlab/faults.hpp"
#include "dtlab/program/snapshots.hpp"
#include "dtlab/program/traffic.hpp"
#include "dtlab/train.hpp"
#include "lab04/parameter_server.hpp"

namespace lab04::programs {

struct Flags {
  int servers = 1;
  int staleness = 3;  // ps-ssp's bound
  double timeout = 5;
  std::vector<std::string> inject;
  double target = 0.85;  // the accuracy whose time is reported
  int snapshots_per_epoch = 4;
};

inline const std::vector<std::string> kStrategies = {"ps-bsp", "ps-ssp", "ps-asp"};

inline int staleness_of(const std::string& strategy, const Flags& f) {
  return strategy == "ps-bsp" ? 0 : strategy == "ps-asp" ? kAsync : f.staleness;
}

// What a run measured, on world rank 0: dtlab's TrainResult, the time to f.target (worker 0's
// pulled models) and the accuracy curve, and besides them:
struct PsRun : dtlab::program::SnapshotRun {
  std::vector<std::int64_t> staleness;   // server 0's histogram of its pulls' staleness
  std::vector<int> dead;                 // workers the servers took for dead (server 0's report)
  dtlab::program::Traffic traffic;       // sent by the busiest rank (a server)
};

// A staleness histogram in one line: every count when there are few, else its summary.
inline std::string describe_staleness(const std::vector<std::int64_t>& h) {
  std::int64_t pulls = 0, sum = 0, worst = 0;
  for (std::size_t s = 0; s < h.size(); ++s) {
    pulls += h[s];
    sum += std::int64_t(s) * h[s];
    if (h[s] > 0) worst = std::int64_t(s);
  }
  std::string counts;
  for (std::size_t s = 0; s < std::min<std::size_t>(h.size(), 5); ++s)
    counts += fmt::format("{}{}: {}", counts.empty() ? "" : ", ", s, h[s]);
  if (h.size() > 5) counts += ", ...";
  return fmt::format("{} pulls, mean {:.2f} clocks, max {} ({})", pulls, pulls ? double(sum) / double(pulls) : 0.0, worst,
                     counts);
}

inline PsRun train_ps(const dtlab::TrainConfig& cfg, const dtlab::DataSplit& data, const Comm& world, dtlab::Mlp& model,
                      const std::string& strategy, const Flags& f) {
  using dtlab::steady_seconds;
  const Roles roles = make_roles(world, f.servers);
  const bool server = roles.is_server(world.rank());
  const int w = server ? -1 : roles.worker_of(world.rank());
  if (data.train.features != cfg.model.inputs || data.train.classes != cfg.model.classes)
    throw dtlab::Error(fmt::format("model {} does not fit dataset {}", cfg.model.describe(), data.train.name));
  // (The sampler checks that the workers split the global batch evenly.)
  dtlab::DistributedSampler sampler(data.train.size, cfg.global_batch, std::max(w, 0), roles.workers, cfg.seed);
  const std::int64_t per_epoch = sampler.batches_per_epoch();
  std::int64_t clocks = cfg.epochs * per_epoch;
  if (cfg.max_steps >= 0) clocks = std::min(clocks, cfg.max_steps);
  const dtlab::LrSchedule schedule = dtlab::make_schedule(cfg, per_epoch);
  const dtlab::FaultPlan faults(f.inject, roles.workers, cfg.seed);
  const std::int64_t keep_every = std::max<std::int64_t>(1, per_epoch / std::max(1, f.snapshots_per_epoch));
  model.init(cfg.seed);
  const std::vector<float> initial(model.params().begin(), model.params().end());

  std::vector<dtlab::program::Snapshot> kept;  // worker 0's
  std::vector<double> losses(std::size_t(cfg.epochs) * 2, 0.0);  // per epoch: loss sum, batches
  std::vector<float> assembled(initial.size(), 0.0f);
  ServerReport report;
  std::int64_t done = 0;  // this worker's clocks
  dtlab::program::reset_traffic();
  world.barrier();
  const double t0 = steady_seconds();
  if (server) {
    Server s(world, roles, initial,
             {.optimizer = cfg.optimizer,
              .lr = [&schedule](std::int64_t c) { return schedule.lr(c); },
              .staleness = staleness_of(strategy, f),
              .timeout = f.timeout});
    report = s.run();
    std::copy(s.params().begin(), s.params().end(), assembled.begin() + std::ptrdiff_t(s.range().begin));
  } else {
    Worker worker(world, roles, initial.size());
    dtlab::Mlp local(cfg.model);
    std::vector<float> xb(std::size_t(sampler.local_batch() * data.train.features));
    std::vector<std::int32_t> yb(std::size_t(sampler.local_batch()));
    bool alive = true;
    for (std::int64_t c = 0; c < clocks && alive; ++c) {
      if (faults.dead(w, c)) {
        fmt::print(stderr, "worker {}: dies at clock {} (--inject): silent from now on\n", w, c);
        alive = false;
        break;
      }
      worker.pull(local.params());
      if (w == 0 && c > 0 && c % keep_every == 0)
        kept.push_back({c, steady_seconds() - t0, {local.params().begin(), local.params().end()}});
      const std::int64_t epoch = c / per_epoch;
      data.train.gather(sampler.indices(epoch, c % per_epoch), xb, yb);
      const double t = steady_seconds();
      const float loss = local.forward_backward(xb, yb);
      faults.straggle(w, c, steady_seconds() - t);
      worker.push(local.grads());
      losses[std::size_t(2 * epoch)] += loss;
      losses[std::size_t(2 * epoch + 1)] += 1;
      done = c + 1;
    }
    if (alive) worker.finish();
  }
  double seconds[1] = {steady_seconds() - t0};
  const dtlab::program::Traffic traffic = dtlab::program::busiest_rank_traffic(world);
  dtlab::baseline::allreduce(world, std::span<double>(seconds), dtlab::ReduceOp::max);
  // The servers' final parameters are the trained model; every rank gets them.
  dtlab::baseline::allreduce(world, std::span<float>(assembled));
  std::copy(assembled.begin(), assembled.end(), model.params().begin());
  // Worker 0's kept models, evaluated by every rank; the final model closes the curve.
  PsRun run;
  static_cast<dtlab::program::SnapshotRun&>(run) =
      dtlab::program::finish_run(world, roles.worker_rank(0), kept, clocks, seconds[0], assembled, std::move(losses),
                                 done * sampler.local_batch(), cfg, data.test, f.target, per_epoch, t0);
  run.traffic = traffic;
  // Server 0 speaks for the servers: every pull and every death reaches each of them.
  run.staleness = dtlab::program::broadcast_counts(world, report.staleness_histogram(), 0);
  run.dead = report.dead;
  return run;
}

}  // namespace lab04::programs
