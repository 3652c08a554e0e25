// dtlab bench: ping-pong (alpha and beta of this machine), allreduce (busbw, nccl-tests style),
// train-step (MLP GFLOP/s next to every SGEMM library's rate and the core's peak) and scaling (samples/s on
// 1, 2, 4... ranks).
#include <fmt/format.h>

#include <Eigen/Core>
#include <algorithm>
#include <functional>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "commands.hpp"
#include "dtlab/baseline.hpp"
#include "dtlab/comm.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/error.hpp"
#include "dtlab/io.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/optim.hpp"
#include "dtlab/rng.hpp"
#include "dtlab/sgemm_probe.hpp"
#include "dtlab/train.hpp"
#include "core_peak.hpp"
#include "dtlab/program/timing.hpp"
#include "series.hpp"
#include "bench_gpu.hpp"

namespace dtlab::cli {

using nlohmann::json;
using program::best_mean;
using program::iterations_for;
using program::parse_bytes;
using program::sizes;

namespace {

// ---- single-core compute rates ----

// Every SGEMM library configure found (DTLAB_SGEMM_CANDIDATES, set by core/CMakeLists.txt).
const std::vector<sgemm_probe::Candidate>& sgemm_candidates() {
  static const auto all = sgemm_probe::load(DTLAB_SGEMM_CANDIDATES, nullptr);
  return all;
}

// The candidate dtlab's own gemm() runs on.
const sgemm_probe::Candidate& linked_sgemm() {
  for (const auto& c : sgemm_candidates())
    if (c.name == gemm_library()) return c;
  throw Error(fmt::format("this build's SGEMM library '{}' no longer loads", gemm_library()));
}

// Single-precision GEMM of n x n matrices on this thread, with the library dtlab's layers use.
double sgemm_gflops(int n) {
  return sgemm_probe::gflops(linked_sgemm().sgemm, sgemm_probe::square_product(n), 0.2);
}

// Seconds per byte of a += b over float arrays larger than the caches: the gamma of the model.
double reduce_seconds_per_byte() {
  const std::size_t n = std::size_t(8) << 20;  // 32 MiB per array
  std::vector<float> a(n, 1.0f), b(n, 0.0f);
  auto add = [&] {
    float* __restrict x = a.data();
    const float* __restrict y = b.data();
    for (std::size_t i = 0; i < n; ++i) x[i] += y[i];
  };
  return best_mean(5, 1, add) / double(n * sizeof(float));
}

// ---- ping-pong ----

struct PingPongOptions {
  std::string min_bytes = "1", max_bytes = "16M";
  std::string json, save_model;
};

int run_pingpong(const PingPongOptions& o, const LaunchOptions& launch) {
  const Comm world = Comm::world();
  check_world_size(launch.ranks);
  if (world.size() != 2) throw Error("bench pingpong runs on exactly 2 ranks (--ranks 2)");
  OpLog::instance().set_enabled(false);
  const int me = world.rank(), peer = 1 - me;
  const auto all = sizes(parse_bytes(o.min_bytes), parse_bytes(o.max_bytes));
  std::vector<std::uint8_t> buf(all.back());
  if (me == 0)
    std::printf("# dtlab bench pingpong: 2 ranks, one-way time = half a round trip, best of 3\n"
                "# %12s %10s %14s %16s\n", "bytes", "iters", "latency(us)", "bandwidth(GB/s)");
  json rows = json::array();
  std::vector<double> xs, ts;
  for (const std::uint64_t bytes : all) {
    const std::span<std::uint8_t> msg(buf.data(), bytes);
    auto round_trip = [&] {
      if (me == 0) {
        world.send(std::span<const std::uint8_t>(msg), peer);
        world.recv(msg, peer);
      } else {
        world.recv(msg, peer);
        world.send(std::span<const std::uint8_t>(msg), peer);
      }
    };
    for (int i = 0; i < 3; ++i) round_trip();
    std::int64_t iters[1] = {iterations_for(best_mean(1, 5, round_trip), 0.03, 5, 100000)};
    baseline::broadcast(world, std::span<std::int64_t>(iters), 0);
    const double one_way = best_mean(3, iters[0], round_trip) / 2;
    if (me == 0) {
      std::printf("  %12llu %10lld %14.2f %16.3f\n", (unsigned long long)bytes, (long long)iters[0],
                  one_way * 1e6, double(bytes) / one_way * 1e-9);
      rows.push_back({{"bytes", bytes}, {"iters", iters[0]}, {"latency_us", one_way * 1e6},
                      {"bandwidth_gbps", double(bytes) / one_way * 1e-9}});
      xs.push_back(double(bytes));
      ts.push_back(one_way);
    }
  }
  // Every rank measures its own reduction and compute rates; rank 0 reports its own.
  CostModel m;
  m.gamma = reduce_seconds_per_byte();
  m.flop_rate = sgemm_gflops(512) * 1e9;
  if (me != 0) return 0;
  // Least squares on the relative error (weights 1/t^2): small messages fix alpha, large ones
  // beta, instead of the largest sizes deciding everything.
  double s0 = 0, s1 = 0, s2 = 0, t0 = 0, t1 = 0;
  for (std::size_t i = 0; i < xs.size(); ++i) {
    const double w = 1 / (ts[i] * ts[i]);
    s0 += w, s1 += w * xs[i], s2 += w * xs[i] * xs[i], t0 += w * ts[i], t1 += w * xs[i] * ts[i];
  }
  const double det = s0 * s2 - s1 * s1;
  m.alpha = std::max(0.0, (t0 * s2 - s1 * t1) / det);
  m.beta = std::max(0.0, (s0 * t1 - s1 * t0) / det);
  double worst = 0;
  for (std::size_t i = 0; i < xs.size(); ++i)
    worst = std::max(worst, std::abs(m.alpha + m.beta * xs[i] - ts[i]) / ts[i]);
  std::printf("fit: alpha = %.3f us, beta = %.4f ns/B (%.2f GB/s); worst size off by %.0f%%\n",
              m.alpha * 1e6, m.beta * 1e9, 1e-9 / m.beta, worst * 100);
  // The readings a network's datasheet gives, without a model: the smallest message's one-way time
  // (latency) and the largest's rate (bandwidth). Where the fit is off (a shaped link lets its
  // token bucket's burst through at once), these still say what the link does at either end.
  const double latency = ts.front(), bandwidth = xs.back() / ts.back();
  std::printf("ends: latency %.3f us (%llu B), bandwidth %.4f GB/s = %.4f ns/B (%llu B)\n", latency * 1e6,
              (unsigned long long)xs.front(), bandwidth * 1e-9, 1e9 / bandwidth, (unsigned long long)xs.back());
  std::printf("this core: gamma = %.4f ns/B (a += b at %.2f GB/s), flop_rate = %.1f GFLOP/s (SGEMM 512)\n",
              m.gamma * 1e9, 1e-9 / m.gamma, m.flop_rate * 1e-9);
  if (!o.save_model.empty()) {
    m.save(o.save_model);
    std::printf("wrote %s\n", o.save_model.c_str());
  }
  if (!o.json.empty())
    write_json_file(o.json, json{{"benchmark", "pingpong"}, {"sizes", rows}, {"alpha", m.alpha},
                                 {"beta", m.beta}, {"gamma", m.gamma}, {"flop_rate", m.flop_rate},
                                 {"fit_worst_relative_error", worst}, {"latency_smallest", latency},
                                 {"bandwidth_largest", bandwidth}}
                                .dump(2));
  return 0;
}

// ---- train step ----

struct TrainStepOptions {
  std::vector<int> hidden = {512, 256};
  int batch = 256;
  std::string device = "cpu";
  bool tf32 = false;
  std::string json;
};

int run_train_step(const TrainStepOptions& o, const LaunchOptions& launch) {
  const Comm world = Comm::world();
  check_world_size(launch.ranks);
  OpLog::instance().set_enabled(false);
  if (o.batch <= 0) throw Error("--batch must be > 0");
  if (o.device == "cuda") {
#ifdef DTLAB_WITH_CUDA
    return run_gpu_train_step(world, o.hidden, o.batch, o.tf32, o.json);
#else
    throw Error("--device cuda: this dtlab was built without CUDA");
#endif
  }
  Mlp model(MlpConfig{784, o.hidden, 10});
  model.init(1);
  Rng rng(7 + std::uint64_t(world.rank()));
  std::vector<float> x(std::size_t(o.batch) * 784);
  std::vector<std::int32_t> y(static_cast<std::size_t>(o.batch));
  for (auto& v : x) v = float(rng.normal());
  for (auto& v : y) v = std::int32_t(rng.below(10));
  // The optimizer `dtlab train` uses (Nesterov SGD with weight decay), as bench/pytorch_*.py do.
  auto opt = make_optimizer(TrainConfig{}.optimizer, model.num_params());
  auto step = [&] {
    model.forward_backward(x, y);
    opt->step(model.params(), model.grads(), 1e-3);
  };
  for (int i = 0; i < 3; ++i) step();
  world.barrier();  // with several ranks, all of them compute at once, as in training
  const double t = best_mean(5, iterations_for(best_mean(1, 3, step), 0.3, 3, 10000), step);
  const double flops = model.train_flops() * o.batch;
  // Every SGEMM library's rate on a square product and on this MLP's own products (the same
  // calls the step makes), measured now, while the other ranks measure too.
  std::vector<int> widths{784};
  widths.insert(widths.end(), o.hidden.begin(), o.hidden.end());
  widths.push_back(10);
  const auto products = sgemm_probe::mlp_products(o.batch, widths);
  const auto& candidates = sgemm_candidates();
  std::vector<double> rates{flops / t * 1e-9};
  for (const auto& c : candidates) {
    rates.push_back(sgemm_probe::gflops(c.sgemm, sgemm_probe::square_product(1024)));
    rates.push_back(sgemm_probe::gflops(c.sgemm, products));
  }
  const CorePeak peak = measure_core_peak();
  rates.push_back(peak.gflops());
  baseline::allreduce(world, std::span<double>(rates), ReduceOp::min);
  if (world.rank() != 0) return 0;
  const double step_gflops = rates[0], peak_gflops = rates.back();
  const double step_seconds = flops / (step_gflops * 1e9);  // the slowest rank's, as every rate
  std::size_t fastest = 0;
  for (std::size_t i = 1; i < candidates.size(); ++i)
    if (rates[1 + 2 * i] > rates[1 + 2 * fastest]) fastest = i;
  const double fastest_gflops = rates[1 + 2 * fastest];
  const double ratio = step_gflops / fastest_gflops;
  std::printf("# dtlab bench train-step: MLP %s, batch %d, forward + backward + SGD step, one thread "
              "per rank, %d rank%s at once (slowest shown)\n",
              model.config().describe().c_str(), o.batch, world.size(), world.size() > 1 ? "s" : "");
  std::printf("this core        %s\n", peak.describe().c_str());
  std::printf("SGEMM, GFLOP/s   %10s %14s\n", "1024^3", "MLP products");
  json libraries = json::array();
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    const bool linked = candidates[i].name == gemm_library();
    std::printf("  %-14s %10.1f %14.1f%s\n", candidates[i].name.c_str(), rates[1 + 2 * i],
                rates[2 + 2 * i], linked ? "  <- dtlab's layers" : "");
    libraries.push_back({{"name", candidates[i].name}, {"path", candidates[i].path},
                         {"square_1024_gflops", rates[1 + 2 * i]},
                         {"mlp_products_gflops", rates[2 + 2 * i]}, {"linked", linked}});
  }
  std::printf("step time        %10.3f ms  (%.0f samples/s per rank)\n", step_seconds * 1e3,
              o.batch / step_seconds);
  std::printf("MLP step         %10.1f GFLOP/s  (%.1f MFLOP per step)\n", step_gflops, flops * 1e-6);
  std::printf("MLP / fastest SGEMM (%s, 1024^3) %5.1f %%\n", candidates[fastest].name.c_str(), 100 * ratio);
  if (peak_gflops > 0)
    std::printf("MLP / core peak  %10.1f %%\n", 100 * step_gflops / peak_gflops);
  if (!o.json.empty())
    write_json_file(o.json, json{{"benchmark", "train-step"},
                                 {"model", model.config().describe()},
                                 {"batch", o.batch},
                                 {"ranks", world.size()},
                                 {"step_ms", step_seconds * 1e3},
                                 {"samples_per_sec", o.batch / step_seconds},
                                 {"mlp_gflops", step_gflops},
                                 {"gemm_library", gemm_library()},
                                 {"sgemm_libraries", libraries},
                                 {"sgemm_gflops", fastest_gflops},
                                 {"sgemm_fastest", candidates[fastest].name},
                                 {"ratio", ratio},
                                 {"core_ghz", peak.ghz},
                                 {"core_flops_per_cycle", peak.flops_per_cycle},
                                 {"core_peak_gflops", peak_gflops}}
                                .dump(2));
  return 0;
}

}  // namespace

void add_bench(CLI::App& app, std::vector<std::unique_ptr<Command>>& cmds) {
  auto* bench = app.add_subcommand("bench", "Benchmarks: pingpong, allreduce, train-step, scaling");
  bench->require_subcommand(1);

  {
    auto& cmd = *cmds.emplace_back(std::make_unique<Command>());
    auto o = std::make_shared<PingPongOptions>();
    auto* c = bench->add_subcommand("pingpong", "Latency and bandwidth between 2 ranks; fits alpha and beta");
    cmd.app = c;
    cmd.launch.ranks = 2;
    c->add_option("--ranks,-n", cmd.launch.ranks, "Ranks (must be 2)");
    program::add_placement_options(*c, cmd.launch);
    c->add_option("--min-bytes", o->min_bytes, "Smallest message (e.g. 1, 4K)");
    c->add_option("--max-bytes", o->max_bytes, "Largest message (e.g. 16M)");
    c->add_option("--json", o->json, "Write the results as JSON");
    c->add_option("--save-model", o->save_model, "Write the fitted cost model (TOML)");
    cmd.run = [o, &cmd] { return run_pingpong(*o, cmd.launch); };
  }
  {
    // Lab 01's program runs it (lab_programs.cpp hands it over before parsing); this entry is what
    // `dtlab bench --help` lists, and what answers when no lab provides it.
    auto& cmd = *cmds.emplace_back(std::make_unique<Command>());
    auto* c = bench->add_subcommand("allreduce",
                                    "Lab 01's allreduce algorithms and MPI_Allreduce by size (Lab 01's "
                                    "program: --impl mine|reference; `dtlab bench allreduce --help`)");
    c->allow_extras();
    cmd.app = c;
    cmd.uses_mpi = false;
    cmd.run = []() -> int { throw Error("no lab in this build provides `bench allreduce` (Lab 01's program)"); };
  }
  {
    auto& cmd = *cmds.emplace_back(std::make_unique<Command>());
    auto o = std::make_shared<TrainStepOptions>();
    auto* c = bench->add_subcommand("train-step", "MLP step GFLOP/s next to every SGEMM library's rate and the core's peak");
    cmd.app = c;
    c->add_option("--ranks,-n", cmd.launch.ranks, "Ranks measuring at the same time")
        ->check(CLI::Range(1, 4096));
    c->add_option("--hidden", o->hidden, "Hidden layer widths")->delimiter(',');
    c->add_option("--batch", o->batch, "Batch size");
    c->add_option("--device", o->device, "cpu (Eigen, one thread) or cuda (cuBLAS)")
        ->check(CLI::IsMember({"cpu", "cuda"}));
    c->add_flag("--tf32", o->tf32, "cuda: TF32 tensor-core GEMMs");
    c->add_option("--json", o->json, "Write the results as JSON");
    cmd.run = [o, &cmd] { return run_train_step(*o, cmd.launch); };
  }
  add_scaling(*bench, *cmds.emplace_back(std::make_unique<Command>()));
}

}  // namespace dtlab::cli
