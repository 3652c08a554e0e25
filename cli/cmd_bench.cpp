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
#include "dtlab/allreduce_rules.hpp"
#include "dtlab/baseline.hpp"
#include "dtlab/comm.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/error.hpp"
#include "dtlab/fastest.hpp"
#include "dtlab/io.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/optim.hpp"
#include "dtlab/rng.hpp"
#include "dtlab/sgemm_probe.hpp"
#include "dtlab/train.hpp"
#include "lab01/collectives.hpp"
#include "core_peak.hpp"
#include "launch.hpp"
#include "series.hpp"
#include "bench_gpu.hpp"

namespace dtlab::cli {

using nlohmann::json;

namespace {

// Best of `trials` runs of f, each the mean over `iters` calls: the usual guard against a noisy
// neighbour on a shared machine.
template <class F>
double best_mean(int trials, std::int64_t iters, F&& f) {
  double best = INFINITY;
  for (int t = 0; t < trials; ++t) {
    const double t0 = steady_seconds();
    for (std::int64_t i = 0; i < iters; ++i) f();
    best = std::min(best, (steady_seconds() - t0) / double(iters));
  }
  return best;
}

// Iterations that make one trial last about `target` seconds, given one call took `one`.
std::int64_t iterations_for(double one, double target, std::int64_t lo, std::int64_t hi) {
  return std::clamp<std::int64_t>(std::int64_t(target / std::max(one, 1e-9)), lo, hi);
}

std::vector<std::uint64_t> sizes(std::uint64_t min, std::uint64_t max) {
  if (min == 0 || max < min)
    throw Error(fmt::format("sizes: need 0 < min-bytes <= max-bytes, got {} and {}", min, max));
  std::vector<std::uint64_t> s;
  for (std::uint64_t b = min; b <= max; b *= 2) s.push_back(b);
  return s;
}

std::uint64_t parse_bytes(const std::string& text) {
  // 4, 4K, 64M, 1G (powers of 1024), as nccl-tests accepts.
  std::size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(text, &pos);
  } catch (const std::exception&) {
    throw Error(fmt::format("'{}' is not a size; expected a number with an optional K, M or G", text));
  }
  const std::string unit = text.substr(pos);
  double mult = 1;
  if (unit == "K" || unit == "k") mult = 1024;
  else if (unit == "M" || unit == "m") mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") mult = 1024.0 * 1024 * 1024;
  else if (!unit.empty() && unit != "B")
    throw Error(fmt::format("'{}': unknown unit '{}'; expected K, M or G", text, unit));
  if (!(v > 0)) throw Error(fmt::format("'{}': a size must be positive", text));
  return std::uint64_t(v * mult);
}

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
  std::printf("this core: gamma = %.4f ns/B (a += b at %.2f GB/s), flop_rate = %.1f GFLOP/s (SGEMM 512)\n",
              m.gamma * 1e9, 1e-9 / m.gamma, m.flop_rate * 1e-9);
  if (!o.save_model.empty()) {
    m.save(o.save_model);
    std::printf("wrote %s\n", o.save_model.c_str());
  }
  if (!o.json.empty())
    write_json_file(o.json, json{{"benchmark", "pingpong"}, {"sizes", rows}, {"alpha", m.alpha},
                                 {"beta", m.beta}, {"gamma", m.gamma}, {"flop_rate", m.flop_rate},
                                 {"fit_worst_relative_error", worst}}
                                .dump(2));
  return 0;
}

// ---- allreduce ----

struct AllreduceOptions {
  std::string min_bytes = "4", max_bytes = "64M";
  std::vector<std::string> algos;  // default: by device
  std::string device = "cpu";
  int trials = 3;
  bool tune = false;
  std::string rules;  // --tune writes here (default: default_allreduce_rules())
  std::string json;
};

// The Lab 01 algorithms `--tune` chooses among (naive is never the fastest past 2 ranks).
const std::vector<std::string> kTunable = {"recursive_doubling", "ring", "rabenseifner"};

// `--tune`: the fastest Lab 01 algorithm at every measured size becomes the rule up to that size
// (a size between two measured ones takes the larger one's winner), runs of one algorithm merged.
// Written into the rules file for this rank count, keeping the other rank counts' rules.
void write_tuned_rules(const std::string& path, int p, const std::vector<std::uint64_t>& all,
                       const std::vector<std::vector<double>>& times, const std::vector<std::string>& algos,
                       int trials) {
  std::vector<AllreduceRules::Rule> rules;
  std::printf("# tuned rules for %d ranks (fastest of %s at each size; its time vs %s)\n", p,
              fmt::format("{}", fmt::join(kTunable, ", ")).c_str(), algos[0].c_str());
  for (std::size_t s = 0; s < all.size(); ++s) {
    // Within 3% of the fastest, the first in kTunable's order wins: noise between two equally
    // fast algorithms (ring and Rabenseifner are one algorithm on 2 ranks) then does not
    // fragment the table. times[s][0] is MPI_Allreduce's, which is not a candidate.
    const std::size_t best = 1 + first_within(std::span<const double>(times[s]).subspan(1));
    std::printf("  %12llu  %-20s %.2fx\n", (unsigned long long)all[s], algos[best].c_str(),
                times[s][best] / times[s][0]);
    const std::uint64_t limit = s + 1 == all.size() ? AllreduceRules::kNoLimit : all[s];
    if (!rules.empty() && rules.back().algorithm == algos[best]) rules.back().up_to_bytes = limit;
    else rules.push_back({p, limit, algos[best]});
  }
  AllreduceRules file = AllreduceRules::load(path);
  file.set(p, rules);
  write_file_atomic(path, file.to_text(fmt::format(
      "dtlab allreduce rules (core/include/dtlab/allreduce_rules.hpp): the fastest Lab 01 algorithm\n"
      "at each size, measured by `dtlab bench allreduce --tune --ranks P`, {} to {} bytes, {} trials.\n"
      "Lab 01's reference choose_allreduce follows them in dtlab train and bench; grading ignores them.",
      all.front(), all.back(), trials)));
  std::printf("wrote %s\n", path.c_str());
}

using AllreduceFn = std::function<void(const Comm&, std::span<float>)>;

// The library's MPI_Allreduce next to Lab 01's reference algorithms.
AllreduceFn allreduce_algorithm(const std::string& name) {
  if (name == "mpi") return [](const Comm& c, std::span<float> d) { baseline::allreduce(c, d); };
  if (name == "naive") return lab01::allreduce_naive<float>;
  if (name == "recursive_doubling") return lab01::allreduce_recursive_doubling<float>;
  if (name == "ring") return lab01::allreduce_ring<float>;
  if (name == "rabenseifner") return lab01::allreduce_rabenseifner<float>;
  if (name == "auto") return lab01::allreduce<float>;
  throw Error(fmt::format("unknown algorithm '{}'; expected mpi, naive, recursive_doubling, ring, "
                          "rabenseifner or auto", name));
}

AllreduceTarget host_allreduce_target(const Comm& world, std::vector<std::string> algos,
                                      std::size_t max_count) {
  if (algos.empty()) algos = {"mpi", "recursive_doubling", "ring", "rabenseifner", "auto"};
  auto buf = std::make_shared<std::vector<float>>(max_count);
  AllreduceTarget t;
  t.algos = algos;
  t.note = "# mpi is the library's MPI_Allreduce; the others are Lab 01's reference algorithms";
  t.load = [buf](std::span<const float> v) { std::copy(v.begin(), v.end(), buf->begin()); };
  t.store = [buf](std::span<float> out) { std::copy_n(buf->begin(), out.size(), out.begin()); };
  for (const auto& a : algos)
    t.run.push_back([buf, world, fn = allreduce_algorithm(a)](std::size_t n) {
      fn(world, std::span<float>(buf->data(), n));
    });
  return t;
}

int run_allreduce(const AllreduceOptions& o, const LaunchOptions& launch) {
  const Comm world = Comm::world();
  check_world_size(launch.ranks);
  OpLog::instance().set_enabled(false);
  const int p = world.size(), me = world.rank();
  const auto all = sizes(std::max<std::uint64_t>(4, parse_bytes(o.min_bytes)), parse_bytes(o.max_bytes));
  const bool cuda = o.device == "cuda";
  if (o.tune && (cuda || !o.algos.empty()))
    throw Error("--tune measures MPI_Allreduce and Lab 01's algorithms on host buffers; leave out "
                "--device and --algo");
  if (o.trials < 1) throw Error("--trials must be at least 1");
  std::vector<std::string> algos_asked = o.algos;
  if (o.tune) {
    algos_asked = {"mpi"};
    algos_asked.insert(algos_asked.end(), kTunable.begin(), kTunable.end());
  }
  const std::size_t max_count = all.back() / 4;
#ifdef DTLAB_WITH_CUDA
  const AllreduceTarget target = cuda ? device_allreduce_target(world, o.algos, max_count)
                                      : host_allreduce_target(world, algos_asked, max_count);
#else
  if (cuda) throw Error("--device cuda: this dtlab was built without CUDA");
  const AllreduceTarget target = host_allreduce_target(world, algos_asked, max_count);
#endif
  const std::vector<std::string>& algos = target.algos;
  if (me == 0)
    std::printf("# dtlab bench allreduce: %d ranks, float sum, in place on %s buffers, best of %d "
                "trials taken in turn, slowest rank\n%s\n"
                "# busbw = algbw * 2(p-1)/p (nccl-tests): what each link carries\n"
                "# %12s %12s %24s %12s %12s %12s %8s %7s\n",
                p, cuda ? "device" : "host", o.trials, target.note.c_str(), "size(B)", "count", "algo",
                "time(us)", "algbw(GB/s)", "busbw(GB/s)", fmt::format("vs {}", algos[0]).substr(0, 8).c_str(),
                "#wrong");
  json rows = json::array();
  std::int64_t total_wrong = 0;
  std::vector<float> values(max_count);
  std::vector<std::vector<double>> times;  // [size][algorithm], seconds
  for (const std::uint64_t bytes : all) {
    const std::size_t count = bytes / 4;
    const std::span<float> data(values.data(), count);
    std::vector<std::int64_t> wrong(algos.size(), 0), iters(algos.size(), 0);
    for (std::size_t k = 0; k < algos.size(); ++k) {
      // Correctness first: small integers sum exactly in float.
      for (std::size_t i = 0; i < count; ++i) data[i] = float((me + 1) * int(i % 7 + 1));
      target.load(data);
      target.run[k](count);
      target.store(data);
      for (std::size_t i = 0; i < count; ++i) wrong[k] += data[i] != float(int(i % 7 + 1) * p * (p + 1) / 2);
    }
    baseline::allreduce(world, std::span<std::int64_t>(wrong));
    std::fill(data.begin(), data.end(), 0.0f);  // zeros: repeated sums neither grow nor overflow
    target.load(data);
    for (std::size_t k = 0; k < algos.size(); ++k) {
      double probe[1] = {best_mean(1, 3, [&] { target.run[k](count); })};
      baseline::allreduce(world, std::span<double>(probe), ReduceOp::max);
      iters[k] = iterations_for(probe[0], 0.02, 3, 20000);
    }
    baseline::broadcast(world, std::span<std::int64_t>(iters), 0);
    // The trials take turns between the algorithms, so that a slow moment of a shared machine
    // falls on all of them rather than on whichever ran then.
    std::vector<double> t(algos.size(), INFINITY);
    for (int trial = 0; trial < o.trials; ++trial)
      for (std::size_t k = 0; k < algos.size(); ++k) {
        world.barrier();
        double mine[1] = {best_mean(1, iters[k], [&] { target.run[k](count); })};
        baseline::allreduce(world, std::span<double>(mine), ReduceOp::max);  // the slowest rank
        t[k] = std::min(t[k], mine[0]);
      }
    times.push_back(t);
    for (std::size_t k = 0; k < algos.size(); ++k) {
      total_wrong += wrong[k];
      const double algbw = double(bytes) / t[k] * 1e-9;
      const double busbw = p > 1 ? algbw * 2 * (p - 1) / p : 0;
      const double vs_base = k > 0 ? t[k] / t[0] : 0;  // against the first: MPI_Allreduce, or NCCL
      // Which algorithm the reference's choose_allreduce took (its rules file, or fixed points).
      const std::string chose =
          !cuda && algos[k] == "auto" ? lab01::to_string(lab01::choose_allreduce(bytes, p)) : "";
      if (me == 0) {
        std::printf("  %12llu %12zu %24s %12.2f %12.3f %12.3f %8s %7lld\n", (unsigned long long)bytes,
                    count, chose.empty() ? algos[k].c_str() : fmt::format("auto:{}", chose).c_str(),
                    t[k] * 1e6, algbw, busbw,
                    vs_base > 0 ? fmt::format("{:.2f}x", vs_base).c_str() : "", (long long)wrong[k]);
        json row = {{"bytes", bytes}, {"count", count}, {"algo", algos[k]}, {"time_us", t[k] * 1e6},
                    {"algbw_gbps", algbw}, {"busbw_gbps", busbw}, {"wrong", wrong[k]}};
        if (vs_base > 0) row["time_vs_" + algos[0]] = vs_base;
        if (!chose.empty()) row["chose"] = chose;
        rows.push_back(row);
      }
    }
  }
  if (me == 0 && o.tune && total_wrong == 0)
    write_tuned_rules(o.rules.empty() ? default_allreduce_rules() : o.rules, p, all, times, algos, o.trials);
  if (me == 0 && total_wrong != 0)
    std::fprintf(stderr, "error: %lld elements were wrong\n", (long long)total_wrong);
  if (me == 0 && !o.json.empty())
    write_json_file(o.json, json{{"benchmark", "allreduce"}, {"device", o.device}, {"ranks", p},
                                 {"results", rows}}.dump(2));
  return total_wrong == 0 ? 0 : 1;
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
    c->add_option("--hostfile", cmd.launch.hostfile, "mpirun hostfile: measure between machines")
        ->check(CLI::ExistingFile);
    c->add_option("--min-bytes", o->min_bytes, "Smallest message (e.g. 1, 4K)");
    c->add_option("--max-bytes", o->max_bytes, "Largest message (e.g. 16M)");
    c->add_option("--json", o->json, "Write the results as JSON");
    c->add_option("--save-model", o->save_model, "Write the fitted cost model (TOML)");
    cmd.run = [o, &cmd] { return run_pingpong(*o, cmd.launch); };
  }
  {
    auto& cmd = *cmds.emplace_back(std::make_unique<Command>());
    auto o = std::make_shared<AllreduceOptions>();
    auto* c = bench->add_subcommand("allreduce", "Allreduce time, algbw and busbw by size, on host or device buffers");
    cmd.app = c;
    cmd.launch.ranks = 2;
    c->add_option("--ranks,-n", cmd.launch.ranks, "Ranks")->check(CLI::Range(1, 4096));
    c->add_option("--hostfile", cmd.launch.hostfile, "mpirun hostfile")->check(CLI::ExistingFile);
    c->add_option("--min-bytes", o->min_bytes, "Smallest size (e.g. 4)");
    c->add_option("--max-bytes", o->max_bytes, "Largest size (e.g. 64M)");
    c->add_option("--algo", o->algos,
                  "Algorithms. cpu: mpi (MPI_Allreduce), naive, recursive_doubling, ring, rabenseifner, "
                  "auto. cuda: nccl, staged (MPI via pinned memory), lab01-ring, lab01-rd, lab01")
        ->delimiter(',');
    c->add_option("--device", o->device, "Where the buffers live: cpu or cuda")
        ->check(CLI::IsMember({"cpu", "cuda"}));
    c->add_option("--trials", o->trials, "Trials per size and algorithm, taken in turn; the best counts")
        ->check(CLI::Range(1, 1000));
    c->add_flag("--tune", o->tune,
                "Measure MPI_Allreduce and Lab 01's algorithms, and write the fastest at each size as "
                "this rank count's rules for the reference's choose_allreduce");
    c->add_option("--rules", o->rules, "With --tune: the rules file to write (default: build/allreduce-rules.txt)");
    c->add_option("--json", o->json, "Write the results as JSON");
    cmd.run = [o, &cmd] { return run_allreduce(*o, cmd.launch); };
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
