// The dtlab program: `dtlab <command> --help` for each command.
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <vector>

#include "commands.hpp"
#include "dtlab/runtime.hpp"
#include "dtlab/program/launch.hpp"
#include "lab_programs.hpp"

int main(int argc, char** argv) {
  using namespace dtlab::cli;
  using namespace dtlab::program;
  // Outlives run_main's error handling, which needs MPI to tell whether every rank failed.
  std::optional<dtlab::Runtime> runtime;
  return dtlab::run_main(argc, argv, [&runtime](int argc, char** argv) -> int {
    run_lab_program_if_asked(argc, argv);  // a lab's strategy or benchmark: the lab's own program
    CLI::App app{"dtlab: distributed deep-learning training, built by hand on MPI"};
    app.name("dtlab");
    app.require_subcommand(1);
    app.option_defaults()->always_capture_default()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    app.set_version_flag("--version", DTLAB_VERSION);
    std::vector<std::unique_ptr<Command>> cmds;
    add_train(app, *cmds.emplace_back(std::make_unique<Command>()));
    add_bench(app, cmds);
    add_trace(app, *cmds.emplace_back(std::make_unique<Command>()));
    add_demo(app, *cmds.emplace_back(std::make_unique<Command>()));
    add_info(app, *cmds.emplace_back(std::make_unique<Command>()));
    add_calc(app, *cmds.emplace_back(std::make_unique<Command>()));
    add_grade(app, *cmds.emplace_back(std::make_unique<Command>()));
    add_package(app, cmds);
    add_cluster(app, cmds);
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return app.exit(e);
    }
    for (auto& cmd : cmds) {
      if (!cmd->app->parsed()) continue;
      if (!cmd->uses_mpi) return cmd->run();
      use_tuned_allreduce_rules();  // before mpirun, which passes the environment on to the ranks
      if (needs_launch(cmd->launch)) exec_under_mpirun(cmd->launch, argc, argv);
      runtime.emplace(argc, argv);
      return cmd->run();
    }
    return 1;
  });
}
