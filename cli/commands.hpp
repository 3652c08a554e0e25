// The subcommands of the dtlab program. Each adds its options to the parser and returns the
// function that runs it, so that main() can decide (after parsing) whether to start mpirun first.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>

#include "dtlab/program/launch.hpp"
#include "dtlab/program/outputs.hpp"

namespace dtlab::cli {

// What the dtlab program shares with the labs' programs (core/program).
using program::check_world_size;
using program::LaunchOptions;
using program::run_self;
using program::TraceOptions;
using program::write_json_file;
using program::write_trace_outputs;

struct Command {
  CLI::App* app = nullptr;
  LaunchOptions launch;        // ranks and hostfile, for commands that run as an MPI job
  bool uses_mpi = true;        // false: runs as a plain process (it may start MPI jobs itself)
  std::function<int()> run;
};

void add_train(CLI::App& app, Command& cmd);
void add_bench(CLI::App& app, std::vector<std::unique_ptr<Command>>& cmds);
void add_trace(CLI::App& app, Command& cmd);
void add_demo(CLI::App& app, Command& cmd);
void add_info(CLI::App& app, Command& cmd);
void add_calc(CLI::App& app, Command& cmd);
void add_grade(CLI::App& app, Command& cmd);
void add_package(CLI::App& app, std::vector<std::unique_ptr<Command>>& cmds);
void add_cluster(CLI::App& app, std::vector<std::unique_ptr<Command>>& cmds);

}  // namespace dtlab::cli
