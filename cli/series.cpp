#include "series.hpp"

#include <fmt/format.h>
#include <stdlib.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "dtlab/error.hpp"
#include "dtlab/io.hpp"

namespace dtlab::cli {

namespace fs = std::filesystem;

std::vector<SeriesRun> run_training_series(const std::vector<int>& ranks,
                                           const std::vector<std::string>& train_args) {
  std::string dir_template = (fs::temp_directory_path() / "dtlab-series-XXXXXX").string();
  if (!mkdtemp(dir_template.data())) throw Error("cannot create a temporary folder");
  const fs::path dir = dir_template;
  std::vector<SeriesRun> runs;
  for (const int p : ranks) {
    const fs::path out = dir / fmt::format("ranks-{}.json", p);
    std::vector<std::string> args{"train", "--ranks", std::to_string(p), "--json", out.string()};
    args.insert(args.end(), train_args.begin(), train_args.end());
    std::printf("\n$ dtlab %s\n", fmt::format("{}", fmt::join(args, " ")).c_str());
    SeriesRun run{p, run_self(args), {}};
    if (run.exit_code == 0 && fs::exists(out)) run.result = nlohmann::json::parse(read_file(out));
    runs.push_back(std::move(run));
  }
  fs::remove_all(dir);
  return runs;
}

void print_scaling_table(const std::vector<SeriesRun>& runs) {
  std::printf("\n%6s %15s %14s %9s %11s\n", "ranks", "test accuracy", "samples/s", "speedup",
              "efficiency");
  double base = 0;
  int base_ranks = 1;
  const long cores = sysconf(_SC_NPROCESSORS_ONLN);
  for (const auto& r : runs) {
    if (r.result.is_null()) {
      std::printf("%6d   failed (exit code %d)\n", r.ranks, r.exit_code);
      continue;
    }
    const double sps = r.result.at("samples_per_sec").get<double>();
    if (base == 0) {
      base = sps;
      base_ranks = r.ranks;
    }
    const double speedup = sps / base;
    const bool evaluated = !r.result.at("history").empty() && r.result.value("test_loss", 0.0) > 0;
    std::printf("%6d %15s %14.0f %8.2fx %10.0f%%%s\n", r.ranks,
                evaluated ? fmt::format("{:.2f}%", 100 * r.result.at("test_accuracy").get<double>()).c_str()
                          : "-",
                sps, speedup, 100 * speedup * base_ranks / r.ranks, r.ranks > cores ? "  *" : "");
  }
  for (const auto& r : runs)
    if (r.ranks > cores) {
      std::printf("* more ranks than this machine's %ld cores: they take turns on them\n", cores);
      break;
    }
}

nlohmann::json series_json(const std::vector<SeriesRun>& runs) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& r : runs) rows.push_back({{"ranks", r.ranks}, {"exit_code", r.exit_code}, {"train", r.result}});
  return rows;
}

namespace {
struct ScalingOptions {
  std::vector<int> ranks = {1, 2, 4};
  std::int64_t steps = 400;
  std::int64_t batch = 256;
  std::string dataset = "fashion-mnist";
  std::string strategy;
  LaunchOptions place;  // --hostfile or --cluster, passed to every run
  std::string json;
};
}  // namespace

void add_scaling(CLI::App& bench, Command& cmd) {
  auto o = std::make_shared<ScalingOptions>();
  auto* c = bench.add_subcommand("scaling",
                                 "Training throughput on 1, 2, 4... ranks with the same global batch");
  cmd.app = c;
  cmd.uses_mpi = false;
  c->add_option("--ranks,-n", o->ranks, "Rank counts, e.g. 1,2,4")->delimiter(',')->check(CLI::Range(1, 4096));
  c->add_option("--steps", o->steps, "Training steps per run")->check(CLI::Range(10, 1000000));
  c->add_option("--batch", o->batch, "Global batch")->check(CLI::Range(1, 1 << 24));
  c->add_option("--dataset", o->dataset, "fashion-mnist or synthetic")
      ->check(CLI::IsMember({"fashion-mnist", "synthetic"}));
  c->add_option("--strategy", o->strategy, "dtlab train's --strategy (default: its own)");
  program::add_placement_options(*c, o->place);
  c->add_option("--json", o->json, "Write the results as JSON");
  cmd.run = [o] {
    std::vector<std::string> args{"--dataset", o->dataset, "--batch", std::to_string(o->batch), "--epochs", "100000",
                                  "--max-steps", std::to_string(o->steps), "--no-eval", "--quiet"};
    if (!o->strategy.empty()) args.insert(args.end(), {"--strategy", o->strategy});
    if (!o->place.hostfile.empty()) args.insert(args.end(), {"--hostfile", o->place.hostfile});
    if (!o->place.cluster.empty()) args.push_back("--cluster=" + o->place.cluster);
    const auto runs = run_training_series(o->ranks, args);
    std::printf("\n# dtlab bench scaling: %lld steps of global batch %lld, throughput of the steps "
                "alone (no evaluation)\n",
                (long long)o->steps, (long long)o->batch);
    print_scaling_table(runs);
    if (!o->json.empty())
      write_json_file(o->json, nlohmann::json{{"benchmark", "scaling"}, {"runs", series_json(runs)}}.dump(2));
    for (const auto& r : runs)
      if (r.exit_code != 0) return 1;
    return 0;
  };
}

}  // namespace dtlab::cli
