// Lab 02's training program: dtlab's MLP trained on Fashion-MNIST with your DDP, by
// `dtlab train --strategy ddp --impl mine` (lab02_train_starter, on your ddp.cpp) or the reference's
// (lab02_train_reference). It takes every option of `dtlab train`, writes the same outputs, and
// adds DDP's own: bucket size, overlap, and whose allreduce the buckets run on.
#include <fmt/format.h>

#include "dtlab/error.hpp"
#include "dtlab/program/train.hpp"
#include "lab01/collectives.hpp"
#include "lab02/ddp.hpp"
#ifdef DTLAB_LAB_CUDA
#include "lab02/cuda/ddp_cuda.hpp"
#endif

namespace {

struct DdpFlags {
  double bucket_mb = 25;
  bool overlap = true;
  std::string allreduce = "mpi";
};

}  // namespace

int main(int argc, char** argv) {
  DdpFlags f;
  dtlab::program::Strategies s;
  s.names = {"ddp"};
  s.make = [&f](const std::string&) -> std::unique_ptr<dtlab::Strategy> {
    return std::make_unique<lab02::DistributedDataParallel>(lab02::DdpOptions{
        .bucket_bytes = std::size_t(f.bucket_mb * double(1 << 20)),
        .overlap = f.overlap,
        .allreduce = f.allreduce == "lab01" ? lab02::AllreduceFn(lab01::allreduce<float>)
                                            : lab02::AllreduceFn(lab02::library_allreduce)});
  };
#ifdef DTLAB_LAB_CUDA
  // On the GPU: the reference's stream-and-event version of the same plan.
  s.make_gpu = [&f](const std::string&) -> dtlab::program::Strategies::GpuMaker {
    const lab02::cuda::GpuDdpOptions options{
        .bucket_bytes = std::size_t(f.bucket_mb * double(1 << 20)),
        .overlap = f.overlap,
        .allreduce = f.allreduce == "lab01" ? lab02::cuda::DeviceAllreduce::lab01
                                            : lab02::cuda::DeviceAllreduce::device_comm};
    return [options](dtlab::cuda::DeviceComm& d) {
      return std::make_unique<lab02::cuda::GpuDistributedDataParallel>(d, options);
    };
  };
#endif
  return dtlab::program::train_main(
      argc, argv, fmt::format("Lab 02: data-parallel training with DDP ({})", DTLAB_IMPL), s,
      [&f](CLI::App& app) {
        app.add_option("--bucket-mb", f.bucket_mb, "Bucket size in MiB (PyTorch's bucket_cap_mb)")
            ->check(CLI::Range(0.0, 1e6));
        app.add_flag("--overlap,!--no-overlap", f.overlap,
                     "Start each bucket's allreduce during backward (on unless --no-overlap)");
        app.add_option("--allreduce", f.allreduce,
                       "The buckets' allreduce: mpi (MPI_Allreduce) or lab01 (Lab 01's allreduce, "
                       "chosen by size, from the same --impl)")
            ->check(CLI::IsMember({"mpi", "lab01"}));
      });
}
