// dtlab demo: the main job, end to end: train on Fashion-MNIST with 1, 2 and 4 ranks and show
// accuracy, throughput and scaling side by side; then grade every lab's reference and starter
// (the self-check: the reference earns every point, the starter none).
#include <fmt/format.h>

#include <cstdio>

#include "commands.hpp"
#include "dtlab/data.hpp"
#include "dtlab/error.hpp"
#include "series.hpp"

namespace dtlab::cli {

namespace {
struct DemoOptions {
  int epochs = 10;
  std::vector<int> ranks = {1, 2, 4};
  bool grade = true;
};
}  // namespace

void add_demo(CLI::App& app, Command& cmd) {
  auto o = std::make_shared<DemoOptions>();
  auto* c = app.add_subcommand("demo", "Train on Fashion-MNIST with 1, 2 and 4 ranks; self-check the grader");
  cmd.app = c;
  cmd.uses_mpi = false;
  c->add_option("--epochs", o->epochs, "Epochs per run")->check(CLI::Range(1, 1000));
  c->add_option("--ranks,-n", o->ranks, "Rank counts")->delimiter(',')->check(CLI::Range(1, 64));
  c->add_flag("!--no-grade", o->grade, "Skip the self-check of the labs");
  cmd.run = [o] {
    // Fail early and clearly if the data is missing, before starting any job.
    (void)read_idx_labels(default_fashion_mnist_dir() / "t10k-labels-idx1-ubyte.gz");
    std::printf("dtlab demo: data-parallel training of an MLP on Fashion-MNIST with %s ranks, the "
                "same global batch (256) and seed for each\n",
                fmt::format("{}", fmt::join(o->ranks, ", ")).c_str());
    const auto runs = run_training_series(o->ranks, {"--epochs", std::to_string(o->epochs)});
    std::printf("\n# summary: %d epochs each; samples/s over the training steps alone\n", o->epochs);
    print_scaling_table(runs);
    for (const auto& r : runs)
      if (r.exit_code != 0) return 1;
    if (!o->grade) return 0;
    std::printf("\n$ dtlab grade --all --self-check --quiet\n");
    return run_self({"grade", "--all", "--self-check", "--quiet"});
  };
}

}  // namespace dtlab::cli
