// Lab 05's local SGD, DiLoCo and gossip on the GPU: `dtlab train --device cuda --strategy
// local-sgd|diloco|gossip`. Each rank trains its own replica on its GPU in dtlab's GPU loop; every
// H steps the replicas synchronise as the CPU reference's after_step does:
//
//   local SGD  params averaged: an allreduce of the parameters on the device (NCCL, or MPI staged
//              through pinned memory when ranks share a GPU), then a scale by 1/p
//   DiLoCo     delta = global - params, allreduced; the outer Nesterov SGD (dtlab's GPU optimizer)
//              steps the global model with delta / p; params = global
//   gossip     the parameters staged to the host and mixed with the neighbours by lab05::gossip_mix
//              (point-to-point MPI, no collective), then uploaded
//
// All of it is queued on the model's stream, so the next step's forward waits for it. At every
// epoch's end local SGD and DiLoCo synchronise once more if steps are left since the last round,
// so that the model evaluated is the one every rank holds; gossip's replicas are evaluated as they
// are, each on its share of the test set (they differ by the consensus distance).
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "dtlab/cuda/train.hpp"
#include "lab05/async_sgd.hpp"

namespace lab05::cuda {

class GpuLocalSgd final : public dtlab::cuda::GpuStrategy {
 public:
  GpuLocalSgd(dtlab::cuda::DeviceComm& dcomm, int sync_every);
  std::string_view name() const override { return "local-sgd"; }
  void step(dtlab::cuda::GpuMlp& model, dtlab::cuda::GpuOptimizer& opt, const dtlab::StepInfo& info) override;
  void epoch_end(dtlab::cuda::GpuMlp& model) override;

 private:
  void average(dtlab::cuda::GpuMlp& model);
  dtlab::cuda::DeviceComm& dcomm_;
  int sync_every_;
  std::int64_t since_ = 0;  // steps since the last synchronisation
};

class GpuDiLoCo final : public dtlab::cuda::GpuStrategy {
 public:
  GpuDiLoCo(dtlab::cuda::DeviceComm& dcomm, int sync_every, OuterConfig outer);
  std::string_view name() const override { return "diloco"; }
  void setup(dtlab::cuda::DeviceComm& dcomm, dtlab::cuda::GpuMlp& model) override;
  void step(dtlab::cuda::GpuMlp& model, dtlab::cuda::GpuOptimizer& opt, const dtlab::StepInfo& info) override;
  void epoch_end(dtlab::cuda::GpuMlp& model) override;

 private:
  void outer_round(dtlab::cuda::GpuMlp& model);
  dtlab::cuda::DeviceComm& dcomm_;
  int sync_every_;
  OuterConfig outer_;
  dtlab::cuda::DeviceBuffer<float> global_, delta_;
  std::unique_ptr<dtlab::cuda::GpuOptimizer> optimizer_;
  std::int64_t since_ = 0;
};

class GpuGossip final : public dtlab::cuda::GpuStrategy {
 public:
  GpuGossip(dtlab::cuda::DeviceComm& dcomm, Topology topology, int sync_every);
  std::string_view name() const override { return "gossip"; }
  void step(dtlab::cuda::GpuMlp& model, dtlab::cuda::GpuOptimizer& opt, const dtlab::StepInfo& info) override;

 private:
  dtlab::cuda::DeviceComm& dcomm_;
  Topology topology_;
  int sync_every_;
  std::vector<float> host_;
};

}  // namespace lab05::cuda
