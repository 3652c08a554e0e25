// The data-parallel training loop, dtlab::train, with a pluggable strategy for keeping the ranks'
// full replicas in step: dtlab train's single and allreduce, Lab 02's DDP, and every later lab
// whose ranks each hold the whole model (compression, local SGD). Labs whose ranks hold parts of
// the model (pipeline and tensor parallelism, parameter servers) write their own short loop from
// the parts in dtlab/loop.hpp, as this one is written.
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "dtlab/comm.hpp"
#include "dtlab/data.hpp"
#include "dtlab/loop.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/optim.hpp"

namespace dtlab {

struct StepInfo {
  std::int64_t step = 0;  // 0-based, counted over the whole run
  double lr = 0;
  int micro_batches = 1;  // backward passes accumulated into grads() for this step
};

class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string_view name() const = 0;
  // Once, before the first step: make the replicas start equal (e.g. broadcast rank 0's model).
  virtual void setup(const Comm& comm, Mlp& model) {}
  // Before each backward pass: micro-batch `micro` of `micro_batches` of the coming step. grads()
  // accumulates over them, so only the last one's gradients are final (PyTorch DDP's no_sync).
  virtual void backward_begins(const Comm& comm, Mlp& model, int micro, int micro_batches) {}
  // During backward, as soon as layer l's gradients are final (last layer first): where a
  // strategy can start communicating while the rest of backward runs.
  virtual void grad_ready(const Comm& comm, Mlp& model, int layer) {}
  // After the step's last backward: synchronise and update the parameters. grads() holds the sum
  // over info.micro_batches micro-batches of each one's mean gradient.
  virtual void step(const Comm& comm, Mlp& model, Optimizer& opt, const StepInfo& info) = 0;
  // Once, when this rank has no more batches: where a strategy can tell ranks still training.
  virtual void finish(const Comm& comm, Mlp& model) {}
};

// One process, no communication: the oracle every parallel strategy is compared with.
class SingleProcess final : public Strategy {
 public:
  std::string_view name() const override { return "single"; }
  void setup(const Comm& comm, Mlp& model) override;
  void step(const Comm& comm, Mlp& model, Optimizer& opt, const StepInfo& info) override;
};

// Data parallelism on the library allreduce: rank 0's initial model is broadcast, and after
// every backward the gradients are summed with MPI_Allreduce and divided by the number of ranks.
class AllreduceDataParallel final : public Strategy {
 public:
  std::string_view name() const override { return "allreduce"; }
  void setup(const Comm& comm, Mlp& model) override;
  void step(const Comm& comm, Mlp& model, Optimizer& opt, const StepInfo& info) override;
};

// Trains model on data with strategy. Collective: every rank of comm calls it with the same
// config. The model is initialised from config.seed unless config.resume names a checkpoint.
TrainResult train(const TrainConfig& config, const DataSplit& data, const Comm& comm,
                  Strategy& strategy, Mlp& model);

// A model whose layers or tensors are split over the ranks (Lab 03's tensor and pipeline
// parallelism): no rank holds the whole model, so the strategy runs each step itself, and the
// loop asks it for the whole model only to evaluate it.
class ShardedStrategy {
 public:
  virtual ~ShardedStrategy() = default;
  virtual std::string_view name() const = 0;
  // Once, before the first step: build this rank's part of the model config.model describes,
  // initialised from config.seed as Mlp::init(seed) initialises the whole.
  virtual void setup(const Comm& comm, const TrainConfig& config) = 0;
  // How the global batch is shared: the ranks form `replicas` model-parallel groups, each training
  // on its own 1/replicas of every global batch (data parallelism across the groups); this rank's
  // group is `replica`. Every rank of a group is given the group's whole share.
  virtual int replicas() const { return 1; }
  virtual int replica() const { return 0; }
  // One step on the group's share of the batch: forward and backward in info.micro_batches
  // micro-batches, then the optimizer step at info.lr. Returns the share's mean loss, on every rank.
  virtual float step(const Comm& comm, std::span<const float> x, std::span<const std::int32_t> labels,
                     const StepInfo& info) = 0;
  // Collective: the whole model's parameters, on every rank.
  virtual void gather(const Comm& comm, Mlp& whole) = 0;
};

// Trains a sharded model: the same loop, data order, schedule, outputs and epoch lines as train();
// after each epoch the whole model is gathered into model and evaluated. Checkpoints need every
// rank's part and are refused (Lab 07 writes sharded ones).
TrainResult train_sharded(const TrainConfig& config, const DataSplit& data, const Comm& comm,
                          ShardedStrategy& strategy, Mlp& model);

}  // namespace dtlab
