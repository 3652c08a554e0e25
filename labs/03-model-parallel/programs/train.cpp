// Lab 03's training program: dtlab's MLP trained on Fashion-MNIST with your tensor and pipeline
// parallelism, by `dtlab train --strategy tp|pp-gpipe|pp-1f1b|pp-interleaved|dp-pp --impl mine`
// (lab03_train_starter, on your code) or the reference's (lab03_train_reference). It takes every
// option of `dtlab train` and writes the same outputs; the model defaults to 784-1024-1024-1024-
// 1024-10: two Megatron blocks for tp, and enough layers for 4 stages, or 2 stages of 2 chunks.
#include <fmt/format.h>

#include "dtlab/program/train.hpp"
#include "strategies.hpp"

int main(int argc, char** argv) {
  lab03::programs::Flags f;
  dtlab::program::Strategies s;
  s.names = lab03::programs::kStrategies;
  s.hidden = {1024, 1024, 1024, 1024};
  s.make_sharded = [&f](const std::string& name) { return lab03::programs::make_strategy(name, f); };
  return dtlab::program::train_main(
      argc, argv, fmt::format("Lab 03: tensor- and pipeline-parallel training ({})", DTLAB_IMPL), s,
      [&f](CLI::App& app) {
        app.add_option("--chunks", f.chunks, "pp-interleaved: model chunks per rank (v)")->check(CLI::Range(1, 64));
        app.add_option("--stages", f.stages, "dp-pp: ranks per pipeline; the others are its replicas")
            ->check(CLI::Range(1, 4096));
        app.add_option("--allreduce", f.allreduce,
                       "tp's and dp-pp's allreduce: mpi (MPI_Allreduce) or lab01 (Lab 01's, from the same --impl)")
            ->check(CLI::IsMember({"mpi", "lab01"}));
      });
}
