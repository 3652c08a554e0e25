#include "dtlab/train.hpp"

#include <fmt/format.h>

#include <cmath>

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

TrainResult train(const TrainConfig& cfg, const DataSplit& data, const Comm& comm,
                  Strategy& strategy, Mlp& model) {
  const double t_begin = steady_seconds();
  if (data.train.features != model.config().inputs || data.train.classes != model.config().classes)
    throw Error(fmt::format("model {} does not fit dataset {} ({} features, {} classes)",
                            model.config().describe(), data.train.name, data.train.features,
                            data.train.classes));
  if (cfg.epochs <= 0) throw Error(fmt::format("epochs must be > 0, got {}", cfg.epochs));
  const int rank = comm.rank();
  auto opt = make_optimizer(cfg.optimizer, model.num_params());
  TrainState st{0, 0, 0, cfg.seed};
  if (!cfg.resume.empty()) st = load_checkpoint(cfg.resume, model, *opt);
  else model.init(cfg.seed);

  DistributedSampler sampler(data.train.size, cfg.global_batch, rank, comm.size(), st.seed,
                             cfg.shuffle);
  const std::int64_t steps_per_epoch = sampler.batches_per_epoch();
  const LrSchedule schedule = make_schedule(cfg, steps_per_epoch);

  strategy.setup(comm, model);

  const std::int64_t local = sampler.local_batch();
  const int micro = cfg.micro_batches;
  const std::int64_t micro_size = micro_batch_size(cfg, local, comm.size());
  AlignedVector<float> xb(std::size_t(local) * data.train.features);
  std::vector<std::int32_t> yb(static_cast<std::size_t>(local));
  const bool lead = rank == 0;
  MetricsCsv csv(cfg.metrics_csv, lead);
  Progress progress(lead && cfg.progress, cfg.epochs, steps_per_epoch);
  const Mlp::GradReady ready = [&](int layer) { strategy.grad_ready(comm, model, layer); };

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
      const StepInfo info{st.step, schedule.lr(st.step), micro};
      {
        ComputeScope scope("data");
        data.train.gather(sampler.indices(epoch, b), xb, yb);
      }
      float loss = 0;
      const std::size_t features = std::size_t(data.train.features);
      for (int m = 0; m < micro; ++m) {
        strategy.backward_begins(comm, model, m, micro);
        const std::size_t first = std::size_t(m * micro_size);
        loss += model.forward_backward(
                    std::span<const float>(xb).subspan(first * features, micro_size * features),
                    std::span<const std::int32_t>(yb).subspan(first, micro_size), ready, m > 0) /
                float(micro);
      }
      strategy.step(comm, model, *opt, info);
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
      const double sps = double(seen) * comm.size() / std::max(elapsed, 1e-9);
      csv.row(st.step, epoch, info.lr, loss, sps, steady_seconds() - t_begin);
      progress.update(int(epoch), b, loss, sps);
      if (cfg.checkpoint_every > 0 && !cfg.checkpoint_dir.empty() &&
          st.step % cfg.checkpoint_every == 0) {
        if (lead) save_checkpoint(checkpoint_path(cfg.checkpoint_dir, st.step), model, *opt, st);
        res.checkpoints.push_back(checkpoint_path(cfg.checkpoint_dir, st.step));
      }
    }
    const double epoch_seconds = steady_seconds() - t_epoch;
    progress.end_epoch();
    res.train_seconds += epoch_seconds;
    res.samples += seen * comm.size();
    if (st.next_batch == steps_per_epoch) {  // the epoch is complete: the next step starts a new one
      st.epoch = epoch + 1;
      st.next_batch = 0;
    }
    if (seen == 0) break;
    double sums[2] = {loss_sum, double(seen)};
    baseline::allreduce(comm, std::span<double>(sums));
    EpochResult er = cfg.evaluate ? evaluate(comm, model, data.test) : EpochResult{};
    er.epoch = int(epoch);
    er.train_loss = sums[0] / sums[1];
    er.seconds = epoch_seconds;
    res.epochs.push_back(er);
    if (lead && cfg.progress)
      print_epoch(er, cfg.epochs, double(seen) * comm.size() / std::max(epoch_seconds, 1e-9));
    if (cfg.checkpoint_every == 0 && !cfg.checkpoint_dir.empty()) {
      if (lead) save_checkpoint(checkpoint_path(cfg.checkpoint_dir, st.step), model, *opt, st);
      res.checkpoints.push_back(checkpoint_path(cfg.checkpoint_dir, st.step));
    }
  }
  strategy.finish(comm, model);
  csv.close();
  summarise(res, st.step, steady_seconds() - t_begin);
  return res;
}

}  // namespace dtlab
