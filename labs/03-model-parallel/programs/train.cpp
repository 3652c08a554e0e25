// Lab 03's training program: dtlab's MLP trained on Fashion-MNIST with your tensor and pipeline
// parallelism, by `dtlab train --strategy tp|pp-gpipe|pp-1f1b|pp-interleaved|dp-pp --impl mine`
// (lab03_train_starter, on your code) or the reference's (lab03_train_reference). It takes every
// option of `dtlab train` and writes the same outputs; the model defaults to 784-1024-1024-1024-
// 1024-10: two Megatron blocks for tp, and enough layers for 4 stages, or 2 stages of 2 chunks.
// `--strategy tp --device cuda` runs the reference's GPU tensor parallelism (cuBLAS, NCCL).
#include <fmt/format.h>

#include "dtlab/error.hpp"
#include "dtlab/program/train.hpp"
#include "strategies.hpp"
#ifdef DTLAB_LAB_CUDA
#include "lab03/cuda/tensor_parallel_cuda.hpp"
#endif

int main(int argc, char** argv) {
  lab03::programs::Flags f;
  dtlab::program::Strategies s;
  s.names = lab03::programs::kStrategies;
  s.hidden = {1024, 1024, 1024, 1024};
  s.make_sharded = [&f](const std::string& name) { return lab03::programs::make_strategy(name, f); };
#ifdef DTLAB_LAB_CUDA
  // On the GPU: the reference's tensor parallelism on cuBLAS and NCCL. The pipelines have no GPU
  // version here (their lesson is the schedule, which the CPU shows as well).
  s.make_sharded_gpu = [&f](const std::string& name, const std::string& device_comm,
                            bool tf32) -> std::unique_ptr<dtlab::ShardedStrategy> {
    if (name != "tp") return nullptr;
    if (f.allreduce != "mpi")
      throw dtlab::Error("--device cuda: tp's allreduces run on the device (NCCL, or --device-comm staged); "
                         "--allreduce lab01 is for the CPU");
    return std::make_unique<lab03::cuda::GpuTensorParallel>(device_comm, tf32);
  };
#endif
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
