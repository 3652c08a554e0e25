#include "lab_programs.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <vector>

#include "dtlab/error.hpp"
#include "dtlab/io.hpp"
#include "dtlab/program/launch.hpp"
#include "submission.hpp"

namespace dtlab::cli {

namespace {

// dtlab's own strategies, trained by cmd_train.cpp.
const std::vector<std::string> kOwnStrategies = {"auto", "single", "allreduce"};

struct LabCommand {
  std::string lab;
  nlohmann::json entry;  // {"strategies": [...], "reference": path, "mine": path}
};

// Every lab's entry for `command` (train, bench_allreduce), in lab order.
std::vector<LabCommand> lab_commands(const std::string& command) {
  std::vector<LabCommand> found;
  for (const auto& lab : grader::known_labs()) {
    const auto j = nlohmann::json::parse(read_file(grader::build_dir() / "autograder" / (lab + ".json")));
    if (j.contains("commands") && j["commands"].contains(command)) found.push_back({lab, j["commands"][command]});
  }
  return found;
}

std::vector<std::string> strategies_of(const LabCommand& c) {
  return c.entry.value("strategies", std::vector<std::string>{});
}

// The value of --name (as "--name V" or "--name=V") among args, if given.
std::optional<std::string> option_value(const std::vector<std::string>& args, std::string_view name) {
  std::optional<std::string> v;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name && i + 1 < args.size()) v = args[i + 1];
    else if (args[i].rfind(std::string(name) + "=", 0) == 0) v = args[i].substr(name.size() + 1);
  }
  return v;
}

std::vector<std::string> without_option(const std::vector<std::string>& args, std::string_view name) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == name) ++i;
    else if (args[i].rfind(std::string(name) + "=", 0) != 0) out.push_back(args[i]);
  }
  return out;
}

[[noreturn]] void run(const LabCommand& c, const std::string& impl, const std::vector<std::string>& args) {
  std::filesystem::path path = c.entry.value(impl, "");
  if (path.empty())
    throw Error(fmt::format("{} has no '{}' program in this build; rebuild with ./dtlab build", c.lab, impl));
  // Relative to the build folder where a relocated build says so (tools/gpu-check's pack).
  if (path.is_relative()) path = grader::build_dir() / path;
  program::exec_program(path.string(), without_option(args, "--impl"));
}

}  // namespace

std::string lab_strategies_help() {
  std::vector<std::string> all;
  for (const auto& c : lab_commands("train"))
    for (const auto& s : strategies_of(c)) all.push_back(fmt::format("{} ({})", s, c.lab));
  return all.empty() ? "none in this build" : fmt::format("{}", fmt::join(all, ", "));
}

void run_lab_program_if_asked(int argc, char** argv) {
  if (argc < 2) return;
  const std::string command = argv[1];
  if (command != "train" && command != "bench") return;
  std::vector<std::string> args(argv + 2, argv + argc);
  const auto impl_given = option_value(args, "--impl");
  const std::string impl = impl_given.value_or("reference");
  if (impl != "mine" && impl != "reference")
    throw Error(fmt::format("--impl {}: expected mine (your working copy) or reference", impl));

  if (command == "train") {
    const std::string strategy = option_value(args, "--strategy").value_or("auto");
    if (std::find(kOwnStrategies.begin(), kOwnStrategies.end(), strategy) != kOwnStrategies.end()) {
      if (impl_given)
        throw Error(fmt::format("--impl chooses whose code a lab's strategy runs; strategy '{}' is "
                                "dtlab's own (labs' strategies: {})",
                                strategy, lab_strategies_help()));
      return;
    }
    for (const auto& c : lab_commands("train")) {
      const auto names = strategies_of(c);
      if (std::find(names.begin(), names.end(), strategy) != names.end()) run(c, impl, args);
    }
    throw Error(fmt::format("unknown strategy '{}'; known: {}, and the labs': {}", strategy,
                            fmt::join(kOwnStrategies, ", "), lab_strategies_help()));
  }
  if (command == "bench" && !args.empty() && args[0].rfind('-', 0) != 0) {
    // `dtlab bench model-parallel` runs a lab's program bench_model_parallel.
    std::string program = "bench_" + args[0];
    std::replace(program.begin(), program.end(), '-', '_');
    const auto found = lab_commands(program);
    if (found.empty()) return;  // one of dtlab's own benchmarks (or a typo CLI11 reports)
    run(found.front(), impl, std::vector<std::string>(args.begin() + 1, args.end()));
  }
}

}  // namespace dtlab::cli
