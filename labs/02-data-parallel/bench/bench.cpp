// Lab 02's timing and modeling program, linked with a submission or with the reference.
//
//   lab02_bench time  ddp BUCKET_BYTES...               seconds per training step, fastest of 3
//                                                       trials, slowest rank; scaling efficiency
//   lab02_bench model ddp BUCKET_BYTES ALPHA BETA GAMMA the op log of one step, replayed
//                                                       (ddp-no-overlap: with overlap off);
//                                                       a 7th argument: write its timeline there
//
// lab02_bench_starter is the same program on your ddp.cpp: run the model item's step yourself and
// open the timeline at https://ui.perfetto.dev.
//
// `time` trains dtlab's default model (784-512-256-10) with a global batch of 512 over the ranks;
// `model` a deeper one (784-512-512-512-512-10) with 32 samples per rank, where overlapping the
// bucket allreduces with backward saves much of the communication. main() is the harness's
// (autograder/harness/bench_main.hpp).
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "dtlab/baseline.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/data.hpp"
#include "dtlab/timing.hpp"
#include "dtlab/trace.hpp"
#include "lab02/ddp.hpp"
#include "bench_main.hpp"

using nlohmann::json;
using dtlab::Comm;

namespace {

// A model, its optimizer and a fixed batch of synthetic images: one training step at a time,
// driven as dtlab::train drives a strategy.
struct Trainer {
  dtlab::Mlp model;
  std::unique_ptr<dtlab::Optimizer> opt;
  std::vector<float> x;
  std::vector<std::int32_t> y;

  Trainer(const dtlab::MlpConfig& cfg, const dtlab::Dataset& data, std::span<const std::int64_t> batch)
      : model(cfg),
        opt(dtlab::make_optimizer({.name = "sgd", .momentum = 0.9, .nesterov = true}, model.num_params())),
        x(batch.size() * std::size_t(data.features)),
        y(batch.size()) {
    model.init(1);
    data.gather(batch, x, y);
  }

  void step(const Comm& comm, dtlab::Strategy& s, std::int64_t k) {
    s.backward_begins(comm, model, 0, 1);
    model.forward_backward(x, y, [&](int l) { s.grad_ready(comm, model, l); });
    s.step(comm, model, *opt, {.step = k, .lr = 0.01});
  }
};

// Every rank's share of one global batch of the synthetic set.
std::vector<std::int64_t> global_batch(std::int64_t n) {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) idx[std::size_t(i)] = (i * 7919) % 4096;
  return idx;
}

const dtlab::DataSplit& data() {
  static const dtlab::DataSplit d = dtlab::make_synthetic({.train = 4096, .test = 16, .features = 784, .seed = 9});
  return d;
}

bool same_on_every_rank(const Comm& c, std::span<const float> mine) {
  std::vector<float> first(mine.begin(), mine.end());
  dtlab::baseline::broadcast(c, std::span<float>(first), 0);
  std::int32_t same[1] = {std::memcmp(first.data(), mine.data(), mine.size_bytes()) == 0};
  dtlab::baseline::allreduce(c, std::span<std::int32_t>(same), dtlab::ReduceOp::min);
  return same[0] == 1;
}

// How far this rank's parameters are from the oracle's (one process on the global batch, the same
// steps from the same initial model), as a fraction of the oracle's largest parameter; collective:
// every rank gets the largest gap. Both sides took the same steps from the same state and differ
// only in the rounding of the gradient sums (per rank, then across ranks, instead of one sum over
// the batch): after one or two steps at these learning rates that is about 1e-8 of the
// parameters' scale on any machine, where a missing rank's gradient or a sum instead of a mean
// moves them by 1e-4 or more. 1e-5 tells them apart with a margin of 100x each way.
constexpr double kOracleTolerance = 1e-5;
double gap_to_oracle(const Comm& c, std::span<const float> mine, std::span<const float> oracle) {
  double gap[1] = {0}, scale = 0;
  for (std::size_t i = 0; i < mine.size(); ++i) {
    gap[0] = std::max(gap[0], std::abs(double(mine[i]) - double(oracle[i])));
    scale = std::max(scale, std::abs(double(oracle[i])));
  }
  gap[0] /= scale;
  dtlab::baseline::allreduce(c, std::span<double>(gap), dtlab::ReduceOp::max);
  return gap[0];
}

json time_buckets(const Comm& c, const std::vector<std::uint64_t>& sizes) {
  dtlab::OpLog::instance().set_enabled(false);
  const std::int64_t global = 512;
  if (global % c.size() != 0) throw dtlab::Error(fmt::format("{} ranks do not divide the batch of {}", c.size(), global));
  const auto all = global_batch(global);
  const auto mine = std::span<const std::int64_t>(all).subspan(std::size_t(c.rank() * (global / c.size())),
                                                                std::size_t(global / c.size()));
  // One process on the whole batch, alone on the machine (the other ranks wait): the baseline of
  // scaling efficiency, as "1 rank" means in a scaling plot.
  // Every rank takes that process's first step too: the oracle each DDP's first step must match.
  const Comm alone = c.split(c.rank(), 0);
  dtlab::SingleProcess single;
  Trainer one(dtlab::MlpConfig{}, data().train, all);
  one.step(alone, single, 0);
  const std::vector<float> oracle(one.model.params().begin(), one.model.params().end());
  double t1[1] = {0};
  if (c.rank() == 0) t1[0] = dtlab::time_per_call(alone, 10, [&](int i) { one.step(alone, single, 1 + i); });
  dtlab::baseline::broadcast(c, std::span<double>(t1), 0);
  json rows = json::array();
  for (const std::uint64_t bytes : sizes) {
    lab02::DistributedDataParallel ddp({.bucket_bytes = bytes});
    Trainer t(dtlab::MlpConfig{}, data().train, mine);
    ddp.setup(c, t.model);
    t.step(c, ddp, 0);
    const double gap = gap_to_oracle(c, t.model.params(), oracle);
    for (int i = 1; i < 3; ++i) t.step(c, ddp, i);  // warm up
    const double tp = dtlab::time_per_call(c, 20, [&](int i) { t.step(c, ddp, 3 + i); });
    ddp.finish(c, t.model);
    const bool same = same_on_every_rank(c, t.model.params());
    const bool ok = same && gap <= kOracleTolerance;
    const double efficiency = t1[0] / (c.size() * tp);
    json row = {{"bytes", bytes},
                {"seconds", tp},
                {"correct", ok},
                {"buckets", ddp.buckets().size()},
                {"single_process_seconds", t1[0]},
                {"scaling_efficiency", efficiency},
                // samples per second of the whole job: global batch / step time
                {"leaderboard_per_second", double(global)},
                {"note", fmt::format("{} bucket(s); {:.0f} samples/s; one process on the whole batch takes {:.2f} ms: "
                                     "scaling efficiency {:.0f}% on {} ranks",
                                     ddp.buckets().size(), double(global) / tp, t1[0] * 1e3, 100 * efficiency,
                                     c.size())}};
    if (!same) row["problem"] = "the replicas differ after the timed steps";
    else if (!ok)
      row["problem"] = fmt::format("after one step the parameters differ from one process on the global batch by "
                                   "{:.3g} of their scale (more than {:g})", gap, kOracleTolerance);
    rows.push_back(row);
  }
  return rows;
}

json model_step(const Comm& c, std::uint64_t bytes, const dtlab::CostModel& m, bool overlap,
               const std::string& trace = "") {
  const dtlab::MlpConfig cfg{.inputs = 784, .hidden = {512, 512, 512, 512}, .classes = 10};
  const std::int64_t local = 32;
  const auto all = global_batch(local * c.size());
  const auto mine = std::span<const std::int64_t>(all).subspan(std::size_t(c.rank() * local), std::size_t(local));
  auto& log = dtlab::OpLog::instance();
  log.set_enabled(false);
  // The oracle: one process on the global batch, two steps.
  const Comm alone = c.split(c.rank(), 0);
  dtlab::SingleProcess single;
  Trainer one(cfg, data().train, all);
  one.step(alone, single, 0);
  one.step(alone, single, 1);

  lab02::DistributedDataParallel ddp({.bucket_bytes = bytes, .overlap = overlap});
  Trainer t(cfg, data().train, mine);
  ddp.setup(c, t.model);
  t.step(c, ddp, 0);  // warm up: the first step may set things up
  log.set_enabled(true);
  c.barrier();
  log.clear();
  t.step(c, ddp, 1);
  const auto logs = dtlab::gather_logs();
  log.set_enabled(false);
  ddp.finish(c, t.model);
  const double gap = gap_to_oracle(c, t.model.params(), one.model.params());
  const bool same = same_on_every_rank(c, t.model.params());
  if (c.rank() != 0) return {};
  const dtlab::Replay r = dtlab::replay(logs, m);
  if (!trace.empty()) dtlab::write_chrome_trace(trace, logs, r, dtlab::TraceClock::model);
  // Compute alone, as the replay prices it: what the step would take if communication were free.
  double compute = 0;
  for (const auto& op : logs[0].ops)
    if (op.lane == 0 && op.kind == dtlab::OpKind::compute) compute += double(op.reduce_bytes) * m.gamma + op.flops / m.flop_rate;
  json out = {{"bytes", bytes},
              {"correct", same && gap <= kOracleTolerance},
              {"buckets", ddp.buckets().size()},
              {"compute_seconds", compute},
              {"metrics", {{"modeled_seconds", r.makespan}}},
              {"note", fmt::format("{} bucket(s): compute {:.3f} ms, communication not hidden behind it {:.3f} ms",
                                   ddp.buckets().size(), compute * 1e3, (r.makespan - compute) * 1e3)}};
  if (!same) out["problem"] = "the replicas differ after two steps, so the step's cost does not count";
  else if (gap > kOracleTolerance)
    out["problem"] = fmt::format("after two steps the parameters differ from one process on the global batch by "
                                 "{:.3g} of their scale (more than {:g}), so the step's cost does not count",
                                 gap, kOracleTolerance);
  return out;
}

}  // namespace

nlohmann::json dtlab::harness::bench(const Comm& world, const std::vector<std::string>& args) {
  const std::string& mode = args[0];
  // ddp-no-overlap: the same with DdpOptions::overlap off, to see what overlap saves.
  if (args[1] != "ddp" && args[1] != "ddp-no-overlap")
    throw dtlab::Error(fmt::format("unknown case '{}': ddp or ddp-no-overlap", args[1]));
  if (mode == "time" && args.size() >= 3) {
    std::vector<std::uint64_t> sizes;
    for (std::size_t k = 2; k < args.size(); ++k) sizes.push_back(size_arg(args, k));
    return time_buckets(world, sizes);
  }
  if (mode == "model" && (args.size() == 6 || args.size() == 7))
    return model_step(world, size_arg(args, 2), cost_model_args(args, 3), args[1] == "ddp",
                      args.size() == 7 ? args[6] : "");
  throw dtlab::Error("usage: lab02_bench time ddp BYTES... | model ddp|ddp-no-overlap BYTES ALPHA BETA GAMMA [TRACE.json]");
}
