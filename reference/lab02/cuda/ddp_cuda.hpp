// Lab 02's DistributedDataParallel on the GPU: `dtlab train --device cuda --strategy ddp`.
//
// The same plan as the CPU reference (ddp.cpp): rank 0's parameters broadcast, gradients in
// buckets made by lab02::make_buckets, each bucket's allreduce started as soon as backward has
// finished its layers, only the last micro-batch communicating. What changes is how "as soon as"
// and "wait" are expressed on a GPU: with streams and events, as PyTorch DDP does with NCCL.
//
//   compute stream:  ... backward layer 3 | backward layer 2 | ... | optimizer step
//                                  \ event ready[0]                 ^ waits for event done
//   comm stream:                    allreduce bucket 0 ... bucket k -/
//
// With NCCL nothing here waits on the host: grad_ready records an event on the compute stream,
// the comm stream waits for it, NCCL's allreduce is queued behind, and the host goes on queuing
// backward. When the allreduce runs through the host (ranks sharing a GPU, or Lab 01's staged
// algorithms), a dtlab::CommWorker thread waits for each event and drives the copies and MPI,
// so the main thread still never blocks before the step.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "dtlab/async.hpp"
#include "dtlab/cuda/train.hpp"
#include "lab02/ddp.hpp"

namespace lab02::cuda {

enum class DeviceAllreduce {
  device_comm,  // DeviceComm: NCCL, or MPI staged through pinned memory when ranks share a GPU
  lab01,        // Lab 01's reference algorithms on device buffers (staged, CUDA reduction kernel)
};

struct GpuDdpOptions {
  std::size_t bucket_bytes = std::size_t(25) << 20;
  bool overlap = true;
  DeviceAllreduce allreduce = DeviceAllreduce::device_comm;
};

class GpuDistributedDataParallel final : public dtlab::cuda::GpuStrategy {
 public:
  GpuDistributedDataParallel(dtlab::cuda::DeviceComm& dcomm, GpuDdpOptions options = {});
  ~GpuDistributedDataParallel() override;

  std::string_view name() const override { return "ddp"; }
  void setup(dtlab::cuda::DeviceComm& dcomm, dtlab::cuda::GpuMlp& model) override;
  void backward_begins(dtlab::cuda::GpuMlp& model, int micro, int micro_batches) override;
  void grad_ready(dtlab::cuda::GpuMlp& model, int layer) override;
  void step(dtlab::cuda::GpuMlp& model, dtlab::cuda::GpuOptimizer& opt,
            const dtlab::StepInfo& info) override;

  const std::vector<Bucket>& buckets() const { return buckets_; }

 private:
  void launch(dtlab::cuda::GpuMlp& model, std::size_t b);
  bool host_driven() const;

  dtlab::cuda::DeviceComm& dcomm_;
  GpuDdpOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<int> bucket_closed_by_;  // per layer: the bucket its gradients complete, or -1
  std::unique_ptr<dtlab::cuda::Stream> comm_stream_;
  std::vector<dtlab::cuda::Event> ready_;
  std::unique_ptr<dtlab::cuda::Event> done_;
  std::unique_ptr<dtlab::CommWorker> worker_;
  std::vector<dtlab::Work> pending_;
  std::size_t launched_ = 0;
  bool communicate_ = true;
  int device_ = 0;
};

}  // namespace lab02::cuda
