// `dtlab train --device cuda`: the training loop of dtlab/train.hpp on the GPU.
//
// The same data order (DistributedSampler), schedule, optimizer rules, micro-batching and
// evaluation as the CPU loop, with the model, the optimizer and the whole dataset on the device.
// The host only queues work: a step's batch is gathered on the device from indices copied
// asynchronously, and the loss is summed on the device and read once per epoch, so the CPU never
// waits for the GPU inside an epoch (unless a per-step metrics file asks for every loss).
//
// Strategies mirror dtlab::Strategy but act on device buffers and streams; the CPU ones work on
// host spans, and ordering device work needs events rather than function returns.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dtlab/cuda/comm.hpp"
#include "dtlab/cuda/mlp.hpp"
#include "dtlab/cuda/optim.hpp"
#include "dtlab/train.hpp"

namespace dtlab::cuda {

class GpuStrategy {
 public:
  virtual ~GpuStrategy() = default;
  virtual std::string_view name() const = 0;
  // Once, before the first step. The default makes every replica start from rank 0's parameters.
  virtual void setup(DeviceComm& dcomm, GpuMlp& model);
  // As Strategy: before each backward pass of a step's micro_batches.
  virtual void backward_begins(GpuMlp& model, int micro, int micro_batches) {}
  // Right after layer l's backward is queued on model.stream() (last layer first).
  virtual void grad_ready(GpuMlp& model, int layer) {}
  // After the step's last backward: synchronise the replicas and queue the optimizer step.
  virtual void step(GpuMlp& model, GpuOptimizer& opt, const StepInfo& info) = 0;
  // After an epoch's last step, before its evaluation: where a strategy whose replicas drift
  // apart between synchronisations (Lab 05's local SGD, DiLoCo) makes them one model again, so
  // that the model evaluated, and the one trained in the end, is that.
  virtual void epoch_end(GpuMlp& model) {}
};

// One process (one GPU), no communication: the oracle.
class GpuSingle final : public GpuStrategy {
 public:
  std::string_view name() const override { return "single"; }
  void setup(DeviceComm& dcomm, GpuMlp& model) override;
  void step(GpuMlp& model, GpuOptimizer& opt, const StepInfo& info) override;
};

// The whole gradient allreduced after backward, on the model's stream.
class GpuAllreduce final : public GpuStrategy {
 public:
  explicit GpuAllreduce(DeviceComm& dcomm) : dcomm_(dcomm) {}
  std::string_view name() const override { return "allreduce"; }
  void step(GpuMlp& model, GpuOptimizer& opt, const StepInfo& info) override;

 private:
  DeviceComm& dcomm_;
};

// How the program that trains builds its strategy: the device communicator exists only inside
// train_cuda (it is made for the GPU this rank is placed on), so the loop is handed a factory.
using GpuStrategyFactory = std::function<std::unique_ptr<GpuStrategy>(DeviceComm&)>;

struct GpuTrainOptions {
  GpuStrategyFactory strategy = [](DeviceComm& d) { return std::make_unique<GpuAllreduce>(d); };
  Backend backend = Backend::automatic;
  bool tf32 = false;
};

// Trains model (host parameters in, trained parameters out) on the GPU. Collective over comm.
// Checkpoints are not written on the GPU path yet: a config asking for them is refused.
TrainResult train_cuda(const TrainConfig& config, const GpuTrainOptions& options,
                       const DataSplit& data, const Comm& comm, Mlp& model);

}  // namespace dtlab::cuda
