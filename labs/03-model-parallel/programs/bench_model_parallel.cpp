// `dtlab bench model-parallel`: one training step of the same model, side by side in one run: one
// process, tensor parallelism and the three pipeline schedules on the job's ranks. For each it
// prints the measured step time, what each rank's op log says it spent computing (the rest of
// the step is bubble and communication), and the step modeled by replaying that op log with the
// compute rate measured here, next to the bubble formula. With more ranks than cores the measured
// column means nothing (the ranks take turns), the modeled one still holds: that is how a 4-stage
// pipeline is priced on a 2-core machine. With --impl mine, your code.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include "dtlab/baseline.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/error.hpp"
#include "dtlab/program/outputs.hpp"
#include "dtlab/program/train.hpp"
#include "dtlab/rng.hpp"
#include "dtlab/timing.hpp"
#include "dtlab/trace.hpp"
#include "strategies.hpp"

namespace {

using dtlab::Comm;
using nlohmann::json;

struct Options {
  std::int64_t batch = 512;
  int micro_batches = 8;
  int iters = 5;
  std::vector<int> hidden = {1024, 1024, 1024, 1024};
  lab03::programs::Flags flags;
  std::string cost_model, trace, json;
};

// Why `name` cannot run on this model and rank count, or "".
std::string not_possible(const std::string& name, const dtlab::MlpConfig& cfg, int p, const Options& o) {
  const int layers = int(cfg.hidden.size()) + 1;
  if (name == "tp") {
    for (std::size_t l = 0; l < cfg.hidden.size(); l += 2)
      if (cfg.hidden[l] % p != 0) return fmt::format("{} ranks do not split width {}", p, cfg.hidden[l]);
    return "";
  }
  const int v = name == "pp-interleaved" ? o.flags.chunks : 1;
  if (layers < p * v) return fmt::format("{} layers cannot make {} stages", layers, p * v);
  if (name == "pp-interleaved" && o.micro_batches % p != 0) return fmt::format("m = {} is not a multiple of p = {}", o.micro_batches, p);
  return "";
}

int run(const Options& o, const dtlab::program::LaunchOptions& launch) {
  dtlab::program::check_world_size(launch.ranks);
  const Comm world = Comm::world();
  const int p = world.size();
  auto& log = dtlab::OpLog::instance();
  log.set_enabled(false);
  dtlab::TrainConfig cfg;
  cfg.model = {.inputs = 784, .hidden = o.hidden, .classes = 10};
  cfg.micro_batches = o.micro_batches;
  cfg.seed = 1;
  std::vector<float> x(std::size_t(o.batch) * 784);
  std::vector<std::int32_t> y(static_cast<std::size_t>(o.batch));
  dtlab::Rng rng(5);
  for (float& v : x) v = float(rng.uniform());
  for (auto& v : y) v = std::int32_t(rng.next() % 10);

  // One process, alone (the others wait): the baseline, and the compute rate the replay uses.
  double one[1] = {0};
  dtlab::Mlp whole(cfg.model);
  if (world.rank() == 0) {
    const Comm alone = world.split(0, 0);
    whole.init(1);
    auto opt = dtlab::make_optimizer(cfg.optimizer, whole.num_params());
    const auto step = [&] {
      whole.forward_backward(x, y);
      opt->step(whole.params(), whole.grads(), 0.01);
    };
    step();
    one[0] = dtlab::time_per_call(alone, o.iters, [&](int) { step(); });
  } else {
    world.split(-1, 0);
  }
  dtlab::baseline::broadcast(world, std::span<double>(one), 0);
  dtlab::CostModel cm = o.cost_model.empty() ? dtlab::CostModel{} : dtlab::CostModel::load(o.cost_model);
  cm.flop_rate = whole.train_flops() * double(o.batch) / one[0];

  const bool oversubscribed = p > int(sysconf(_SC_NPROCESSORS_ONLN));
  if (world.rank() == 0) {
    std::printf("%s, batch %lld, %d micro-batches; %d rank%s%s; modeled with %s, compute at the measured %.1f GFLOP/s\n\n",
                cfg.model.describe().c_str(), (long long)o.batch, o.micro_batches, p, p > 1 ? "s" : "",
                oversubscribed ? " (more than the cores: measured times are the ranks taking turns; read the modeled column)"
                               : "",
                o.cost_model.empty() ? "dtlab's default links" : o.cost_model.c_str(), cm.flop_rate / 1e9);
    std::printf("%-24s %12s %9s %14s %12s %12s %15s\n", "", "measured ms", "speedup", "not computing", "modeled ms",
                "modeled idle", "bubble formula");
    std::printf("%-24s %12.1f %8.2fx\n", "one process", one[0] * 1e3, 1.0);
  }
  json rows = json::array({{{"strategy", "one process"}, {"ranks", 1}, {"seconds", one[0]}}});
  for (const std::string name : {"tp", "pp-gpipe", "pp-1f1b", "pp-interleaved"}) {
    const int v = name == "pp-interleaved" ? o.flags.chunks : 1;
    const std::string label = name == "tp" ? "tp" : name == "pp-interleaved" ? fmt::format("{} (v = {})", name, v) : name;
    if (const std::string why = not_possible(name, cfg.model, p, o); !why.empty()) {
      if (world.rank() == 0) std::printf("%-24s n/a: %s\n", label.c_str(), why.c_str());
      continue;
    }
    auto s = lab03::programs::make_strategy(name, o.flags);
    dtlab::TrainConfig c = cfg;
    if (name == "tp") c.micro_batches = 1;
    s->setup(world, c);
    const dtlab::StepInfo i{.step = 0, .lr = 0.01, .micro_batches = c.micro_batches};
    for (int k = 0; k < 2; ++k) s->step(world, x, y, i);  // warm up
    const double t = dtlab::time_per_call(world, o.iters, [&](int) { s->step(world, x, y, i); });
    log.set_enabled(true);
    world.barrier();
    log.clear();
    s->step(world, x, y, i);
    const auto logs = dtlab::gather_logs();
    log.set_enabled(false);
    if (world.rank() != 0) continue;
    // What each rank's log says it spent computing: measured (wall) and as the replay prices it.
    // The pipeline's stages mark their forwards and backwards; tensor parallelism marks nothing
    // (its layers are your functions), so its compute is the step less its allreduces, and the
    // replay, which sees only the allreduces, gets its flops added: one rank's share of every
    // split layer and all of the replicated one (forward 2, backward 4 flops per weight and
    // sample; the first layer has no input gradient).
    double busy = 0, modeled_busy = 0;
    for (const auto& rl : logs) {
      double b = 0, mb = 0, in_collectives = 0;
      for (const auto& op : rl.ops) {
        if (op.lane != 0) continue;
        if (op.kind == dtlab::OpKind::collective) in_collectives += op.t_end - op.t_start;
        if (op.kind == dtlab::OpKind::compute && op.flops > 0) {
          b += op.t_end - op.t_start;
          mb += op.flops / cm.flop_rate + double(op.reduce_bytes) * cm.gamma;
        }
      }
      busy += (name == "tp" ? t - in_collectives : b) / double(p);
      modeled_busy = std::max(modeled_busy, mb);
    }
    dtlab::Replay r = dtlab::replay(logs, cm);
    if (name == "tp") {
      const auto& L = whole.layers();
      double flops = 0;
      for (std::size_t l = 0; l < L.size(); ++l) {
        const bool replicated = l + 1 == L.size() && L.size() % 2 == 1;
        flops += 2.0 * L[l].in * L[l].out * double(o.batch) * (l > 0 ? 3 : 2) / (replicated ? 1 : p);
      }
      modeled_busy = flops / cm.flop_rate;
      r.makespan += modeled_busy;
    }
    if (!o.trace.empty() && name == "pp-1f1b")
      dtlab::write_chrome_trace(o.trace, logs, r, dtlab::TraceClock::wall);
    const double formula = name == "tp" ? 0 : double(p - 1) / (v * o.micro_batches + p - 1);
    std::printf("%-24s %12.1f %8.2fx %13.0f%% %12.1f %11.0f%% %15s\n", label.c_str(), t * 1e3, one[0] / t,
                100 * (1 - busy / t), r.makespan * 1e3, 100 * (1 - modeled_busy / r.makespan),
                name == "tp" ? "" : fmt::format("{:.0f}%", 100 * formula).c_str());
    rows.push_back({{"strategy", name},
                    {"ranks", p},
                    {"chunks", v},
                    {"seconds", t},
                    {"speedup", one[0] / t},
                    {"modeled_seconds", r.makespan},
                    {"modeled_idle", 1 - modeled_busy / r.makespan},
                    {"measured_idle", 1 - busy / t},
                    {"bubble_formula", formula}});
  }
  if (world.rank() == 0) {
    std::printf("\nnot computing: the share of the measured step each rank spent outside compute, from its op log (mean "
                "over ranks): the bubble, messages and waiting; for tp, its allreduces. modeled: one step's op log replayed, "
                "and the share of it the busiest rank does not compute.\n");
    if (!o.trace.empty()) std::printf("wrote %s (pp-1f1b's step; open it at https://ui.perfetto.dev)\n", o.trace.c_str());
    if (!o.json.empty())
      dtlab::program::write_json_file(o.json, json{{"benchmark", "model-parallel"},
                                                   {"model", cfg.model.describe()},
                                                   {"batch", o.batch},
                                                   {"micro_batches", o.micro_batches},
                                                   {"ranks", p},
                                                   {"oversubscribed", oversubscribed},
                                                   {"flop_rate", cm.flop_rate},
                                                   {"cost_model", cm.describe()},
                                                   {"results", rows}}
                                                  .dump(2));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{fmt::format("Lab 03: one process, tensor and pipeline parallelism, side by side ({})", DTLAB_IMPL)};
  app.option_defaults()->always_capture_default()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  Options o;
  dtlab::program::LaunchOptions launch;
  launch.ranks = 2;
  app.add_option("--ranks,-n", launch.ranks, "Ranks")->check(CLI::Range(1, 4096));
  dtlab::program::add_placement_options(app, launch);
  app.add_option("--batch", o.batch, "Samples per step")->check(CLI::Range(std::int64_t(1), std::int64_t(1) << 20));
  app.add_option("--micro-batches", o.micro_batches, "Micro-batches of the pipelines")->check(CLI::Range(1, 4096));
  app.add_option("--chunks", o.flags.chunks, "Model chunks per rank of pp-interleaved")->check(CLI::Range(1, 64));
  app.add_option("--hidden", o.hidden, "Hidden layer widths")->delimiter(',');
  app.add_option("--iters", o.iters, "Steps per trial (3 trials, the fastest kept)")->check(CLI::Range(1, 10000));
  app.add_option("--cost-model", o.cost_model, "Cost model TOML (`dtlab bench pingpong --save-model`); "
                 "its flop rate is replaced by the one measured here")->check(CLI::ExistingFile);
  app.add_option("--trace", o.trace, "Write pp-1f1b's measured step as a Perfetto timeline");
  app.add_option("--json", o.json, "Write the results as JSON");
  return dtlab::program::mpi_main(argc, argv, app, launch, [&] { return run(o, launch); });
}
