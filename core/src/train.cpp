#include "dtlab/train.hpp"

#include <fmt/format.h>

#include <cmath>
#include <functional>

#include "dtlab/baseline.hpp"
#include "dtlab/error.hpp"
#include "dtlab/checkpoint.hpp"

namespace dtlab {

// ---- strategies ----

void SingleProcess::setup(const Comm& comm, Mlp&) {
  if (comm.size() > 1)
    throw Error(fmt::format("strategy 'single' keeps one replica per rank and never communicates; "
                            "with {} ranks use --strategy allreduce",
                            comm.size()));
}

void SingleProcess::step(const Comm&, Mlp& model, Optimizer& opt, const StepInfo& info) {
  opt.step(model.params(), model.grads(), info.lr, 1.0f / float(info.micro_batches));
}

void AllreduceDataParallel::setup(const Comm& comm, Mlp& model) {
  baseline::broadcast(comm, model.params(), 0);
}

void AllreduceDataParallel::step(const Comm& comm, Mlp& model, Optimizer& opt,
                                 const StepInfo& info) {
  baseline::allreduce(comm, model.grads());
  // The sum of p gradients of local means, divided by p, is the gradient of the global mean
  // (and of m micro-batch means, divided by m as well).
  opt.step(model.params(), model.grads(), info.lr, 1.0f / float(comm.size() * info.micro_batches));
}

// ---- the loop ----

namespace {

// What differs between a replicated model (train) and a sharded one (train_sharded).
struct LoopParts {
  int replica = 0;   // which share of each global batch this rank trains on
  int replicas = 1;  // how many shares
  // One step on this rank's share (x, labels): the share's mean loss.
  std::function<float(std::span<const float>, std::span<const std::int32_t>, const StepInfo&)> step;
  // Before model is evaluated: make it the whole current model (a sharded model gathers it).
  std::function<void()> sync;
  Optimizer* checkpointed = nullptr;  // the optimizer checkpoints hold; null: no checkpoints
  std::function<void()> finish;
};

TrainResult run_loop(const TrainConfig& cfg, const DataSplit& data, const Comm& comm, Mlp& model,
                     TrainState st, const LoopParts& parts) {
  const double t_begin = steady_seconds();
  DistributedSampler sampler(data.train.size, cfg.global_batch, parts.replica, parts.replicas, st.seed,
                             cfg.shuffle);
  const std::int64_t steps_per_epoch = sampler.batches_per_epoch();
  const LrSchedule schedule = make_schedule(cfg, steps_per_epoch);
  const std::int64_t local = sampler.local_batch();
  AlignedVector<float> xb(std::size_t(local) * data.train.features);
  std::vector<std::int32_t> yb(static_cast<std::size_t>(local));
  const bool lead = comm.rank() == 0;
  MetricsCsv csv(cfg.metrics_csv, lead);
  Progress progress(lead && cfg.progress, cfg.epochs, steps_per_epoch);
  // Every rank of a share sees the same samples: the job trains on `replicas` shares per step.
  const double ranks_per_share = double(comm.size()) / double(parts.replicas);
  const auto save = [&](TrainResult& res) {
    if (lead) save_checkpoint(checkpoint_path(cfg.checkpoint_dir, st.step), model, *parts.checkpointed, st);
    res.checkpoints.push_back(checkpoint_path(cfg.checkpoint_dir, st.step));
  };

  TrainResult res;
  bool stop = false;
  for (std::int64_t epoch = st.epoch; epoch < cfg.epochs && !stop; ++epoch) {
    double loss_sum = 0;
    std::int64_t seen = 0;
    const double t_epoch = steady_seconds();
    for (std::int64_t b = epoch == st.epoch ? st.next_batch : 0; b < steps_per_epoch; ++b) {
      if (cfg.max_steps >= 0 && st.step >= cfg.max_steps) {
        stop = true;
        break;
      }
      const StepInfo info{st.step, schedule.lr(st.step), cfg.micro_batches};
      {
        ComputeScope scope("data");
        data.train.gather(sampler.indices(epoch, b), xb, yb);
      }
      const float loss = parts.step(xb, yb, info);
      if (!std::isfinite(loss))
        throw Error(fmt::format("the loss is {} at step {}: training diverged; try a smaller "
                                "learning rate than {}",
                                loss, st.step, cfg.lr));
      loss_sum += double(loss) * double(local);
      seen += local;
      ++st.step;
      st.epoch = epoch;
      st.next_batch = b + 1;
      const double elapsed = steady_seconds() - t_epoch;
      const double sps = double(seen) * parts.replicas / std::max(elapsed, 1e-9);
      csv.row(st.step, epoch, info.lr, loss, sps, steady_seconds() - t_begin);
      progress.update(int(epoch), b, loss, sps);
      if (cfg.checkpoint_every > 0 && !cfg.checkpoint_dir.empty() &&
          st.step % cfg.checkpoint_every == 0) {
        parts.sync();
        save(res);
      }
    }
    const double epoch_seconds = steady_seconds() - t_epoch;
    progress.end_epoch();
    res.train_seconds += epoch_seconds;
    res.samples += seen * parts.replicas;
    if (st.next_batch == steps_per_epoch) {  // the epoch is complete: the next step starts a new one
      st.epoch = epoch + 1;
      st.next_batch = 0;
    }
    if (seen == 0) break;
    // Each rank's losses once per share: the mean over every sample of the epoch.
    double sums[2] = {loss_sum / ranks_per_share, double(seen) / ranks_per_share};
    baseline::allreduce(comm, std::span<double>(sums));
    parts.sync();
    EpochResult er = cfg.evaluate ? evaluate(comm, model, data.test) : EpochResult{};
    er.epoch = int(epoch);
    er.train_loss = sums[0] / sums[1];
    er.seconds = epoch_seconds;
    res.epochs.push_back(er);
    if (lead && cfg.progress)
      print_epoch(er, cfg.epochs, double(seen) * parts.replicas / std::max(epoch_seconds, 1e-9));
    if (cfg.checkpoint_every == 0 && !cfg.checkpoint_dir.empty()) save(res);
  }
  parts.finish();
  csv.close();
  summarise(res, st.step, steady_seconds() - t_begin);
  return res;
}

void check_fits(const TrainConfig& cfg, const DataSplit& data, const MlpConfig& model) {
  if (data.train.features != model.inputs || data.train.classes != model.classes)
    throw Error(fmt::format("model {} does not fit dataset {} ({} features, {} classes)",
                            model.describe(), data.train.name, data.train.features,
                            data.train.classes));
  if (cfg.epochs <= 0) throw Error(fmt::format("epochs must be > 0, got {}", cfg.epochs));
}

}  // namespace

TrainResult train(const TrainConfig& cfg, const DataSplit& data, const Comm& comm,
                  Strategy& strategy, Mlp& model) {
  check_fits(cfg, data, model.config());
  auto opt = make_optimizer(cfg.optimizer, model.num_params());
  TrainState st{0, 0, 0, cfg.seed};
  if (!cfg.resume.empty()) st = load_checkpoint(cfg.resume, model, *opt);
  else model.init(cfg.seed);
  strategy.setup(comm, model);
  const int micro = cfg.micro_batches;
  // (The sampler checks that the ranks split the global batch evenly.)
  const std::int64_t local =
      DistributedSampler(data.train.size, cfg.global_batch, comm.rank(), comm.size(), st.seed).local_batch();
  const std::int64_t micro_size = micro_batch_size(cfg, local, comm.size());
  const std::size_t features = std::size_t(data.train.features);
  const Mlp::GradReady ready = [&](int layer) { strategy.grad_ready(comm, model, layer); };
  LoopParts parts;
  parts.replica = comm.rank();
  parts.replicas = comm.size();
  parts.step = [&](std::span<const float> xb, std::span<const std::int32_t> yb, const StepInfo& info) {
    float loss = 0;
    for (int m = 0; m < micro; ++m) {
      strategy.backward_begins(comm, model, m, micro);
      const std::size_t first = std::size_t(m * micro_size);
      loss += model.forward_backward(xb.subspan(first * features, micro_size * features),
                                     yb.subspan(first, micro_size), ready, m > 0) /
              float(micro);
    }
    strategy.step(comm, model, *opt, info);
    return loss;
  };
  parts.sync = [] {};
  parts.checkpointed = opt.get();
  parts.finish = [&] { strategy.finish(comm, model); };
  return run_loop(cfg, data, comm, model, st, parts);
}

TrainResult train_sharded(const TrainConfig& cfg, const DataSplit& data, const Comm& comm,
                          ShardedStrategy& strategy, Mlp& model) {
  check_fits(cfg, data, cfg.model);
  if (!cfg.resume.empty() || !cfg.checkpoint_dir.empty())
    throw Error(fmt::format("strategy '{}' splits the model over the ranks, and its checkpoints would "
                            "need every rank's part (Lab 07 writes sharded ones): drop "
                            "--checkpoint-dir and --resume",
                            strategy.name()));
  strategy.setup(comm, cfg);
  const std::int64_t share = DistributedSampler(data.train.size, cfg.global_batch, strategy.replica(),
                                                strategy.replicas(), cfg.seed)
                                 .local_batch();
  micro_batch_size(cfg, share, strategy.replicas());
  LoopParts parts;
  parts.replica = strategy.replica();
  parts.replicas = strategy.replicas();
  parts.step = [&](std::span<const float> xb, std::span<const std::int32_t> yb, const StepInfo& info) {
    return strategy.step(comm, xb, yb, info);
  };
  parts.sync = [&] { strategy.gather(comm, model); };
  parts.finish = [] {};
  return run_loop(cfg, data, comm, model, TrainState{0, 0, 0, cfg.seed}, parts);
}

}  // namespace dtlab
