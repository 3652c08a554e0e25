// Lab 05's training loops: dtlab's MLP on Fashion-MNIST by asynchronous SGD (rank 0 serves, the
// others work), local SGD, DiLoCo or gossip (every rank trains its own copy), on your code or the
// reference's.
//
// Every worker or rank trains on its 1/W of every global batch, as a rank of data parallelism
// would, with the learning rate of `dtlab train`'s schedule. Asynchronous SGD applies each
// worker's gradient as one update at 1/W of the synchronous step's rate (the rate of the step it
// is a part of); --staleness-aware divides that by the update's staleness. Faults come from the
// seeded plan (--inject slow:...): a slow worker sleeps (factor - 1) times the time its step took.
// One rank keeps its model a few times per epoch (dtlab/program/snapshots.hpp); the final model is
// the server's, or the mean of the ranks' models.
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
#include "lab05/async_sgd.hpp"

namespace lab05::programs {

struct Flags {
  int sync_every = 0;  // H: local SGD, DiLoCo, gossip; 0: the method's default, sync_every_of()
  std::string topology = "ring";
  bool staleness_aware = false;
  OuterConfig outer;
  std::vector<std::string> inject;
  double target = 0.85;
  int snapshots_per_epoch = 4;
};

inline const std::vector<std::string> kStrategies = {"async", "local-sgd", "diloco", "gossip"};

// Steps between synchronisations: --sync-every, else 8 for local SGD, 32 for DiLoCo (whose outer
// momentum wants fewer, larger rounds) and 1 for gossip (a neighbour exchange every step).
inline int sync_every_of(const std::string& strategy, const Flags& f) {
  if (f.sync_every > 0) return f.sync_every;
  return strategy == "diloco" ? 32 : strategy == "gossip" ? 1 : 8;
}

// What a run measured, on world rank 0: dtlab's TrainResult, the time to f.target and the accuracy
// curve (the keeper's models), and besides them:
struct Run : dtlab::program::SnapshotRun {
  std::vector<std::int64_t> staleness;  // async: the server's histogram
  dtlab::program::Traffic traffic;      // sent by the busiest rank
  double consensus = 0;                 // max distance of a rank's model to the mean, at the end
};

// Every rank's mean of x (a baseline allreduce: the program's, not the lab's traffic).
inline void mean_over_ranks(const Comm& world, std::span<float> x) {
  dtlab::baseline::allreduce(world, x);
  for (float& v : x) v /= float(world.size());
}

inline Run train(const dtlab::TrainConfig& cfg, const dtlab::DataSplit& data, const Comm& world, dtlab::Mlp& model,
                 const std::string& strategy, const Flags& f) {
  using dtlab::steady_seconds;
  const bool async = strategy == "async";
  if (async && world.size() < 2)
    throw dtlab::Error("--strategy async needs a server and at least one worker: --ranks 2 or more");
  if (data.train.features != cfg.model.inputs || data.train.classes != cfg.model.classes)
    throw dtlab::Error(fmt::format("model {} does not fit dataset {}", cfg.model.describe(), data.train.name));
  // Who trains: async's workers are ranks 1..p-1, the other methods' every rank.
  const int W = async ? world.size() - 1 : world.size();
  const int me = async ? world.rank() - 1 : world.rank();  // -1: the server
  dtlab::DistributedSampler sampler(data.train.size, cfg.global_batch, std::max(me, 0), W, cfg.seed);
  const std::int64_t per_epoch = sampler.batches_per_epoch();
  std::int64_t steps = cfg.epochs * per_epoch;
  if (cfg.max_steps >= 0) steps = std::min(steps, cfg.max_steps);
  const dtlab::LrSchedule schedule = dtlab::make_schedule(cfg, per_epoch);
  const dtlab::FaultPlan faults(f.inject, W, cfg.seed);
  // Dying is Lab 04's and Lab 07's subject: none of these methods is built to go on without a rank.
  for (const dtlab::Fault& fault : faults.faults())
    if (fault.kind == dtlab::Fault::Kind::kill)
      throw dtlab::Error("--inject kill:...: Lab 05's methods do not survive a dead rank; use slow:rank=R,factor=F "
                         "or slow:rank=any,factor=F (Lab 04's ps-* strategies take kill)");
  const std::int64_t keep_every = std::max<std::int64_t>(1, per_epoch / std::max(1, f.snapshots_per_epoch));
  const Topology topology = parse_topology(f.topology);
  const int H = sync_every_of(strategy, f);
  model.init(cfg.seed);
  std::vector<float> params(model.params().begin(), model.params().end());

  std::vector<dtlab::program::Snapshot> kept;  // the keeper's
  const int keeper = async ? 1 : 0;
  std::vector<double> losses(std::size_t(cfg.epochs) * 2, 0.0);  // per epoch: loss sum, batches
  std::vector<float> final_params(params.size(), 0.0f);
  AsyncReport report;
  std::int64_t done = 0;
  dtlab::program::reset_traffic();
  world.barrier();
  const double t0 = steady_seconds();
  if (me < 0) {
    AsyncServer server(world, params,
                       {.optimizer = cfg.optimizer,
                        .lr = [&](std::int64_t u) { return schedule.lr(u / W) / W; },
                        .staleness_aware = f.staleness_aware});
    report = server.run();
    std::copy(server.params().begin(), server.params().end(), final_params.begin());
  } else {
    dtlab::Mlp local(cfg.model);
    std::copy(params.begin(), params.end(), local.params().begin());
    std::vector<float> xb(std::size_t(sampler.local_batch() * data.train.features));
    std::vector<std::int32_t> yb(std::size_t(sampler.local_batch()));
    std::unique_ptr<AsyncWorker> worker;
    std::unique_ptr<dtlab::Optimizer> opt;
    std::unique_ptr<LocalSgd> local_sgd;
    std::unique_ptr<DiLoCo> diloco;
    if (async) {
      worker = std::make_unique<AsyncWorker>(world, params.size());
      worker->start(local.params());
    } else {
      opt = dtlab::make_optimizer(cfg.optimizer, params.size());
      if (strategy == "local-sgd") local_sgd = std::make_unique<LocalSgd>(world, H);
      if (strategy == "diloco") diloco = std::make_unique<DiLoCo>(world, params, H, f.outer);
    }
    for (std::int64_t s = 0; s < steps; ++s) {
      const std::int64_t epoch = s / per_epoch;
      data.train.gather(sampler.indices(epoch, s % per_epoch), xb, yb);
      const double t = steady_seconds();
      const float loss = local.forward_backward(xb, yb);
      faults.straggle(me, s, steady_seconds() - t);
      if (async) {
        worker->step(local.grads(), local.params());
      } else {
        opt->step(local.params(), local.grads(), schedule.lr(s));
        if (local_sgd) local_sgd->after_step(local.params());
        if (diloco) diloco->after_step(local.params());
        if (strategy == "gossip" && (s + 1) % H == 0) gossip_mix(world, topology, local.params());
      }
      losses[std::size_t(2 * epoch)] += loss;
      losses[std::size_t(2 * epoch + 1)] += 1;
      done = s + 1;
      // Local SGD and DiLoCo keep the model right after a synchronisation, when every rank has it.
      const bool in_sync = (strategy != "local-sgd" && strategy != "diloco") || (s + 1) % H == 0;
      const std::int64_t last = kept.empty() ? 0 : kept.back().step;
      if (world.rank() == keeper && in_sync && s + 1 - last >= keep_every && s + 1 < steps)
        kept.push_back({s + 1, steady_seconds() - t0, {local.params().begin(), local.params().end()}});
    }
    if (async) worker->finish();
    std::copy(local.params().begin(), local.params().end(), final_params.begin());
  }
  double seconds[1] = {steady_seconds() - t0};
  Run run;
  run.traffic = dtlab::program::busiest_rank_traffic(world);
  dtlab::baseline::allreduce(world, std::span<double>(seconds), dtlab::ReduceOp::max);
  // The trained model: the server's, or the mean of the ranks' (and how far they were from it).
  if (async) {
    dtlab::baseline::broadcast(world, std::span<float>(final_params), 0);
  } else {
    std::vector<float> mean = final_params;
    mean_over_ranks(world, mean);
    double d = 0;
    for (std::size_t k = 0; k < mean.size(); ++k) d += double(final_params[k] - mean[k]) * (final_params[k] - mean[k]);
    double worst[1] = {std::sqrt(d)};
    dtlab::baseline::allreduce(world, std::span<double>(worst), dtlab::ReduceOp::max);
    run.consensus = worst[0];
    final_params = std::move(mean);
  }
  std::copy(final_params.begin(), final_params.end(), model.params().begin());
  static_cast<dtlab::program::SnapshotRun&>(run) =
      dtlab::program::finish_run(world, keeper, kept, steps, seconds[0], final_params, std::move(losses),
                                 done * sampler.local_batch(), cfg, data.test, f.target, per_epoch, t0);
  run.staleness = dtlab::program::broadcast_counts(world, report.staleness_histogram(), 0);
  return run;
}

}  // namespace lab05::programs
