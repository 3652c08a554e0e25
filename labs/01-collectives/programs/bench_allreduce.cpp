// Lab 01's allreduce benchmark, run by `dtlab bench allreduce [--impl mine|reference]`: every
// algorithm of the lab next to the library's MPI_Allreduce at every size, nccl-tests style (time,
// algbw, busbw, and each one's time against MPI_Allreduce's), each result checked first. Built twice,
// as lab01_bench_allreduce_reference and lab01_bench_allreduce_starter (your collectives.cpp).
// `--tune` writes the fastest algorithm at each size as the rules the reference's choose_allreduce
// follows (dtlab/allreduce_rules.hpp).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string_view>

#include "bench_allreduce.hpp"
#include "dtlab/allreduce_rules.hpp"
#include "dtlab/baseline.hpp"
#include "dtlab/error.hpp"
#include "dtlab/fastest.hpp"
#include "dtlab/io.hpp"
#include "dtlab/program/timing.hpp"
#include "dtlab/program/train.hpp"
#include "lab01/collectives.hpp"

using nlohmann::json;
using namespace dtlab;
using namespace dtlab::program;

namespace {

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

// The library's MPI_Allreduce next to Lab 01's algorithms (the reference's or yours).
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
  t.note = fmt::format("# mpi is the library's MPI_Allreduce; the others are Lab 01's algorithms, {}", kImpl);
  t.load = [buf](std::span<const float> v) { std::copy(v.begin(), v.end(), buf->begin()); };
  t.store = [buf](std::span<float> out) { std::copy_n(buf->begin(), out.size(), out.begin()); };
  for (const auto& a : algos)
    t.run.push_back([buf, world, fn = allreduce_algorithm(a)](std::size_t n) {
      fn(world, std::span<float>(buf->data(), n));
    });
  return t;
}

int run(const AllreduceOptions& o, const LaunchOptions& launch) {
  const Comm world = Comm::world();
  check_world_size(launch.ranks);
  OpLog::instance().set_enabled(false);
  const int p = world.size(), me = world.rank();
  const auto all = sizes(std::max<std::uint64_t>(4, parse_bytes(o.min_bytes)), parse_bytes(o.max_bytes));
  const bool cuda = o.device == "cuda";
  if (o.tune && (cuda || !o.algos.empty()))
    throw Error("--tune measures MPI_Allreduce and Lab 01's algorithms on host buffers; leave out "
                "--device and --algo");
  if (o.tune && std::string_view(kImpl) != "reference")
    throw Error("--tune writes the rules the reference's choose_allreduce follows in dtlab train and "
                "bench; measure them on the reference (leave out --impl mine)");
  if (o.trials < 1) throw Error("--trials must be at least 1");
  std::vector<std::string> algos_asked = o.algos;
  if (o.tune) {
    algos_asked = {"mpi"};
    algos_asked.insert(algos_asked.end(), kTunable.begin(), kTunable.end());
  }
  const std::size_t max_count = all.back() / 4;
#ifdef DTLAB_LAB_CUDA
  const AllreduceTarget target = cuda ? device_allreduce_target(world, o.algos, max_count)
                                      : host_allreduce_target(world, algos_asked, max_count);
#else
  if (cuda)
    throw Error(fmt::format("--device cuda: this program ({}) was built without CUDA: Lab 01's device "
                            "algorithms are the reference's (reference/lab01/cuda), built with the CUDA "
                            "track; use --impl reference on a CUDA build",
                            kImpl));
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

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{fmt::format("Lab 01's allreduce algorithms and MPI_Allreduce, by size ({})", kImpl)};
  app.option_defaults()->always_capture_default()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  AllreduceOptions o;
  LaunchOptions launch;
  launch.ranks = 2;
  app.add_option("--ranks,-n", launch.ranks, "Ranks")->check(CLI::Range(1, 4096));
  add_placement_options(app, launch);
  app.add_option("--min-bytes", o.min_bytes, "Smallest size (e.g. 4)");
  app.add_option("--max-bytes", o.max_bytes, "Largest size (e.g. 64M)");
  app.add_option("--algo", o.algos,
                 "Algorithms. cpu: mpi (MPI_Allreduce), naive, recursive_doubling, ring, rabenseifner, "
                 "auto. cuda: nccl, staged (MPI via pinned memory), lab01-ring, lab01-rd, lab01")
      ->delimiter(',');
  app.add_option("--device", o.device, "Where the buffers live: cpu or cuda")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  app.add_option("--trials", o.trials, "Trials per size and algorithm, taken in turn; the best counts")
      ->check(CLI::Range(1, 1000));
  app.add_flag("--tune", o.tune,
               "Measure MPI_Allreduce and Lab 01's algorithms, and write the fastest at each size as "
               "this rank count's rules for the reference's choose_allreduce");
  app.add_option("--rules", o.rules, "With --tune: the rules file to write (default: build/allreduce-rules.txt)");
  app.add_option("--json", o.json, "Write the results as JSON");
  return mpi_main(argc, argv, app, launch, [&] { return run(o, launch); });
}
