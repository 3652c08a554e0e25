// dtlab calc: the course's closed forms (dtlab/formulas.hpp) on the command line.
//
//   dtlab calc                                   list every formula
//   dtlab calc ring_allreduce_time p=8 bytes=1e9 alpha=5e-6 beta=1e-10
//   dtlab calc "2*ring_allreduce_time(p=8, bytes=1e9, alpha=5e-6, beta=1e-10)/1e-3"   arithmetic
//   dtlab calc --batch < lines                   many at once, for scripts
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <ranges>

#include "commands.hpp"
#include "dtlab/error.hpp"
#include "dtlab/formulas.hpp"

namespace dtlab::cli {

namespace {

// --batch: one calculation (either form of dtlab::calculate) per line of stdin, one value per line of stdout, full
// precision: how scripts (slides/figures/make_figures.py) use the formulas without copying them.
int run_batch() {
  std::string line;
  int number = 0;
  while (std::getline(std::cin, line)) {
    ++number;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    try {
      std::printf("%.17g\n", calculate(line));
    } catch (const Error& e) {
      throw Error(fmt::format("stdin line {}: {}", number, e.what()));
    }
  }
  return 0;
}

int run(const std::string& name, const std::vector<std::string>& words) {
  if (name.empty()) {
    for (const auto& f : formulas()) {
      std::vector<std::string> opt;
      for (const auto& [k, v] : f.defaults) opt.push_back(fmt::format("[{}={:g}]", k, v));
      std::printf("%-36s %s%s%s\n    %s (%s)\n", f.name.c_str(), fmt::format("{}", fmt::join(f.params, " ")).c_str(),
                  opt.empty() ? "" : " ", fmt::format("{}", fmt::join(opt, " ")).c_str(),
                  f.description.c_str(), f.unit.c_str());
    }
    return 0;
  }
  const std::string text = words.empty() ? name : fmt::format("{} {}", name, fmt::join(words, " "));
  const double v = calculate(text);
  if (is_formula_call(text)) {
    const Formula& f = formula(name);
    std::printf("%.6g %s\n    %s\n", v, f.unit.c_str(), f.description.c_str());
  } else {
    std::printf("%.6g\n", v);
  }
  return 0;
}

}  // namespace

void add_calc(CLI::App& app, Command& cmd) {
  auto name = std::make_shared<std::string>();
  auto words = std::make_shared<std::vector<std::string>>();
  auto* c = app.add_subcommand("calc", "The course's formulas: collective costs, bubbles, compressed sizes, memory...");
  cmd.app = c;
  cmd.uses_mpi = false;
  c->add_option("formula", *name, "Formula name (none: list them all), or an arithmetic expression in quotes");
  c->add_option("args", *words, "Arguments as key=value, in SI units (seconds, bytes)");
  auto batch = std::make_shared<bool>(false);
  c->add_flag("--batch", *batch, "Read 'NAME key=value...' lines from stdin; print one value per line");
  cmd.run = [name, words, batch] { return *batch ? run_batch() : run(*name, *words); };
}

}  // namespace dtlab::cli
