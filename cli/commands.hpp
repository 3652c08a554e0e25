// The subcommands of the dtlab program. Each adds its options to the parser and returns the
// function that runs it, so that main() can decide (after parsing) whether to start mpirun first.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>

#include "launch.hpp"

namespace dtlab::cli {

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

// Shared by several commands: the op log of the run, written as a timeline and as a raw log.
struct TraceOptions {
  std::string trace;         // Chrome trace JSON
  std::string clock = "wall";
  std::string oplog;         // dtlab op log JSON
  std::string cost_model;    // TOML; defaults when empty
  void add(CLI::App* app);
  bool wanted() const { return !trace.empty() || !oplog.empty(); }
};
// Collective: gathers the op logs on rank 0 and writes what was asked for. Returns the modeled
// time (rank 0 only; 0 elsewhere or when nothing was asked for).
double write_trace_outputs(const TraceOptions& opt);

// Writes JSON (pretty, atomically) to path on the calling rank.
void write_json_file(const std::string& path, const std::string& text);

}  // namespace dtlab::cli
