// Lab 03's timing and modeling program, linked with a submission or with the reference.
//
//   lab03_bench time  tp|pp BATCH...                      seconds per training step on all ranks,
//                                                         fastest of 3 trials, slowest rank
//   lab03_bench model tp|gpipe|1f1b|interleaved N ALPHA BETA GAMMA [TRACE.json]
//                                                         the op log of one step, replayed
//
// `time` trains the training program's model (784-1024-1024-1024-1024-10): tp with every rank in
// one tensor-parallel group, pp as a pipeline of all ranks with 1F1B and 4 micro-batches. `model`
// prices one step from its op log: tp on that model with a batch of N; the pipelines on a uniform
// 8-layer model (256 wide, so every stage costs the same) with N micro-batches of 8 samples, where
// the replay shows the bubble (interleaved: 2 chunks per rank). Each result is checked first: the
// parameters after one SGD step must match the whole model's step. main() is the harness's.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "bench_main.hpp"
#include "dtlab/baseline.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/timing.hpp"
#include "dtlab/trace.hpp"
#include "lab03_pipeline_test.hpp"

using nlohmann::json;
using dtlab::Comm;

namespace {

const dtlab::MlpConfig kWide{.inputs = 784, .hidden = {1024, 1024, 1024, 1024}, .classes = 10};
const dtlab::MlpConfig kUniform{.inputs = 256, .hidden = {256, 256, 256, 256, 256, 256, 256}, .classes = 10};
constexpr int kTimedMicroBatches = 4;
constexpr int kSamplesPerMicroBatch = 8;
constexpr double kLr = 0.05;

// One training step of a split model: the same interface for tensor and pipeline parallelism.
struct Split {
  std::function<void(const lab03::test::Batch&)> step;
  std::function<void(dtlab::Mlp&)> gather;
};

Split make_split(const std::string& kind, const Comm& c, const dtlab::MlpConfig& cfg, int m) {
  using namespace lab03;
  const dtlab::OptimizerConfig sgd{.name = "sgd", .momentum = 0};
  if (kind == "tp") {
    auto tp = std::make_shared<TensorParallelMlp>(cfg, c);
    auto opt = std::shared_ptr<dtlab::Optimizer>(dtlab::make_optimizer(sgd, tp->num_params()));
    tp->init(1);
    return {[tp, opt](const test::Batch& b) {
              tp->forward_backward(b.x, b.y);
              opt->step(tp->params(), tp->grads(), kLr);
            },
            [tp](dtlab::Mlp& whole) { tp->gather(whole); }};
  }
  const int v = kind == "interleaved" ? 2 : 1;
  auto pipe = std::make_shared<Pipeline>(cfg, c, v, sgd);
  pipe->init(1);
  const Schedule s = kind == "gpipe" ? gpipe(c.size(), m)
                     : kind == "interleaved" ? interleaved_1f1b(c.size(), m, v)
                                             : one_f_one_b(c.size(), m);
  auto mine = std::make_shared<std::vector<Action>>(s[std::size_t(c.rank())]);
  return {[pipe, mine, m](const test::Batch& b) {
            pipe->run(*mine, m, b.x, b.y);
            pipe->step(kLr);
          },
          [pipe](dtlab::Mlp& whole) { pipe->gather(whole); }};
}

// How far the split model's parameters after one step are from the whole model's (relative to
// their scale): both are one SGD step from the same parameters, differing only in the rounding of
// the gradient sums (about 1e-8 of the scale), where a missing allreduce or an unscaled loss moves
// them by 1e-4 or more. 1e-5 tells them apart with a margin of 100x each way.
constexpr double kTolerance = 1e-5;
double gap_after_one_step(const Comm& c, const Split& split, const dtlab::MlpConfig& cfg, const lab03::test::Batch& b) {
  dtlab::Mlp whole(cfg);
  whole.init(1);
  auto opt = dtlab::make_optimizer({.name = "sgd", .momentum = 0}, whole.num_params());
  whole.forward_backward(b.x, b.y);
  opt->step(whole.params(), whole.grads(), kLr);
  split.step(b);
  dtlab::Mlp got(cfg);
  split.gather(got);
  double gap[1] = {lab03::test::relative_difference(got.params(), whole.params())};
  dtlab::baseline::allreduce(c, std::span<double>(gap), dtlab::ReduceOp::max);
  return gap[0];
}

json time_steps(const Comm& c, const std::string& kind, const std::vector<std::uint64_t>& batches) {
  dtlab::OpLog::instance().set_enabled(false);
  json rows = json::array();
  for (const std::uint64_t n : batches) {
    const int m = kind == "tp" ? 1 : kTimedMicroBatches;
    const auto b = lab03::test::random_batch(kWide, int(n), 7);
    const double gap = gap_after_one_step(c, make_split(kind == "tp" ? "tp" : "1f1b", c, kWide, m), kWide, b);
    const Split split = make_split(kind == "tp" ? "tp" : "1f1b", c, kWide, m);
    for (int i = 0; i < 2; ++i) split.step(b);  // warm up
    // A wrong result is not timed (0 s).
    const double best = gap <= kTolerance ? dtlab::time_per_call(c, 5, [&](int) { split.step(b); }) : 0;
    json row = {{"bytes", n},
                {"seconds", best},
                {"correct", gap <= kTolerance},
                {"leaderboard_per_second", double(n)},
                {"note", fmt::format("{} on {} ranks, batch {}: {:.1f} ms per step", kind, c.size(), n, best * 1e3)}};
    if (gap > kTolerance)
      row["problem"] = fmt::format("after one step the parameters differ from the whole model's by {:.3g} of their "
                                   "scale (more than {:g})",
                                   gap, kTolerance);
    rows.push_back(row);
  }
  return rows;
}

json model_step(const Comm& c, const std::string& kind, std::uint64_t n, const dtlab::CostModel& cm,
                const std::string& trace) {
  const bool tp = kind == "tp";
  const dtlab::MlpConfig& cfg = tp ? kWide : kUniform;
  const int m = tp ? 1 : int(n);
  const auto b = lab03::test::random_batch(cfg, tp ? int(n) : int(n) * kSamplesPerMicroBatch, 9);
  auto& log = dtlab::OpLog::instance();
  log.set_enabled(false);
  const double gap = gap_after_one_step(c, make_split(kind, c, cfg, m), cfg, b);
  const Split split = make_split(kind, c, cfg, m);
  split.step(b);  // warm up: the first step may set things up
  log.set_enabled(true);
  c.barrier();
  log.clear();
  split.step(b);
  const auto logs = dtlab::gather_logs();
  log.set_enabled(false);
  if (c.rank() != 0) return {};
  const dtlab::Replay r = dtlab::replay(logs, cm);
  if (!trace.empty()) dtlab::write_chrome_trace(trace, logs, r, dtlab::TraceClock::model);
  // Each rank's compute as the replay prices it: what the step would take with free communication
  // and no waiting. The bubble is the rest of the busiest rank's step.
  double busiest = 0;
  for (const auto& rl : logs) {
    double compute = 0;
    for (const auto& op : rl.ops)
      if (op.lane == 0 && op.kind == dtlab::OpKind::compute)
        compute += double(op.reduce_bytes) * cm.gamma + op.flops / cm.flop_rate;
    busiest = std::max(busiest, compute);
  }
  const int p = c.size(), v = kind == "interleaved" ? 2 : 1;
  json out = {{"bytes", n},
              {"correct", gap <= kTolerance},
              {"metrics", {{"modeled_seconds", r.makespan}}},
              {"compute_seconds", busiest},
              {"idle_fraction", 1 - busiest / r.makespan}};
  if (tp)  // the layers are the submission's functions, which mark no compute: the allreduces are priced
    out["note"] = fmt::format("batch {}: the allreduces and the optimizer step (the layers' compute is not in the "
                              "op log) take {:.3f} ms",
                              n, r.makespan * 1e3);
  else
    out["note"] = fmt::format("{} micro-batches on {} stages: idle {:.1f}% of the step (bubble formula (p-1)/(vm+p-1) "
                              "= {:.1f}%, plus the messages)",
                              m, p, 100 * (1 - busiest / r.makespan), 100.0 * (p - 1) / (v * m + p - 1));
  if (gap > kTolerance)
    out["problem"] = fmt::format("after one step the parameters differ from the whole model's by {:.3g} of their "
                                 "scale (more than {:g}), so the step's cost does not count",
                                 gap, kTolerance);
  return out;
}

}  // namespace

nlohmann::json dtlab::harness::bench(const Comm& world, const std::vector<std::string>& args) {
  const std::string& mode = args[0];
  const std::string& kind = args.size() > 1 ? args[1] : "";
  if (mode == "time" && args.size() >= 3 && (kind == "tp" || kind == "pp")) {
    std::vector<std::uint64_t> sizes;
    for (std::size_t k = 2; k < args.size(); ++k) sizes.push_back(size_arg(args, k));
    return time_steps(world, kind, sizes);
  }
  if (mode == "model" && (args.size() == 6 || args.size() == 7) &&
      (kind == "tp" || kind == "gpipe" || kind == "1f1b" || kind == "interleaved"))
    return model_step(world, kind, size_arg(args, 2), cost_model_args(args, 3), args.size() == 7 ? args[6] : "");
  throw dtlab::Error(
      "usage: lab03_bench time tp|pp BATCH... | model tp|gpipe|1f1b|interleaved N ALPHA BETA GAMMA [TRACE.json]");
}
