#include "dtlab/program/snapshots.hpp"

#include <algorithm>

#include "dtlab/baseline.hpp"
#include "dtlab/oplog.hpp"

namespace dtlab::program {

Curve evaluate_snapshots(const Comm& world, int keeper, const std::vector<Snapshot>& kept, std::int64_t steps,
                         double seconds, std::span<const float> final_params, const MlpConfig& model,
                         const Dataset& test, double target, int epochs, std::int64_t steps_per_epoch,
                         std::span<const double> losses) {
  std::int64_t count[1] = {std::int64_t(kept.size())};
  baseline::broadcast(world, std::span<std::int64_t>(count), keeper);
  Curve out;
  Mlp probe(model);
  std::vector<std::pair<std::int64_t, EpochResult>> evaluated;  // step, result
  for (std::int64_t i = 0; i <= count[0]; ++i) {
    double stamp[2] = {double(steps), seconds};
    if (i < count[0]) {
      if (world.rank() == keeper) {
        const Snapshot& s = kept[std::size_t(i)];
        stamp[0] = double(s.step);
        stamp[1] = s.seconds;
        std::copy(s.params.begin(), s.params.end(), probe.params().begin());
      }
      baseline::broadcast(world, probe.params(), keeper);
      baseline::broadcast(world, std::span<double>(stamp), keeper);
    } else {
      std::copy(final_params.begin(), final_params.end(), probe.params().begin());
    }
    EpochResult e = evaluate(world, probe, test);
    e.seconds = stamp[1];
    evaluated.push_back({std::int64_t(stamp[0]), e});
    out.points.push_back({{"step", std::int64_t(stamp[0])}, {"seconds", stamp[1]}, {"test_accuracy", e.test_accuracy}});
    if (!out.time_to_target && e.test_accuracy >= target) out.time_to_target = stamp[1];
  }
  double previous = 0;
  for (int e = 0; e < epochs && std::int64_t(e) * steps_per_epoch < steps; ++e) {
    const std::int64_t end = std::min(steps, std::int64_t(e + 1) * steps_per_epoch);
    const auto it = std::find_if(evaluated.begin(), evaluated.end(), [&](const auto& x) { return x.first >= end; });
    EpochResult er = it->second;
    er.epoch = e;
    const double batches = losses[std::size_t(2 * e + 1)];
    er.train_loss = batches > 0 ? losses[std::size_t(2 * e)] / batches : 0;
    er.seconds = er.seconds - previous;
    previous = it->second.seconds;
    out.epochs.push_back(er);
  }
  return out;
}

SnapshotRun finish_run(const Comm& world, int keeper, const std::vector<Snapshot>& kept, std::int64_t steps,
                       double seconds, std::span<const float> final_params, std::vector<double> losses,
                       std::int64_t samples, const TrainConfig& cfg, const Dataset& test, double target,
                       std::int64_t steps_per_epoch, double t0) {
  baseline::allreduce(world, std::span<double>(losses));
  std::int64_t total[1] = {samples};
  baseline::allreduce(world, std::span<std::int64_t>(total));
  Curve curve = evaluate_snapshots(world, keeper, kept, steps, seconds, final_params, cfg.model, test, target,
                                   cfg.epochs, steps_per_epoch, losses);
  SnapshotRun run;
  run.time_to_target = curve.time_to_target;
  run.curve = std::move(curve.points);
  run.result.epochs = std::move(curve.epochs);
  run.result.samples = total[0];
  run.result.train_seconds = seconds;
  summarise(run.result, steps, steady_seconds() - t0);
  return run;
}

std::vector<std::int64_t> broadcast_counts(const Comm& world, std::vector<std::int64_t> counts, int root) {
  std::int64_t size[1] = {std::int64_t(counts.size())};
  baseline::broadcast(world, std::span<std::int64_t>(size), root);
  counts.resize(std::size_t(size[0]));
  baseline::broadcast(world, std::span<std::int64_t>(counts), root);
  return counts;
}

}  // namespace dtlab::program
