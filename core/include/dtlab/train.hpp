// The training loop, with a pluggable strategy for keeping the ranks' models in step.
//
// Every parallel-training lab is a Strategy: data parallelism averages gradients, a parameter
// server pushes and pulls, local SGD averages parameters now and then, compression squeezes the
// gradient first. The loop itself (data, forward/backward, schedule, evaluation, checkpoints,
// metrics) is the same for all of them.
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

// The defaults reach about 89.7% test accuracy on Fashion-MNIST in 10 epochs
// (docs/results/training.md): SGD with Nesterov momentum, the learning rate of the linear scaling
// rule (0.1 per 256 samples of global batch), half an epoch of warmup, then cosine decay.
struct TrainConfig {
  MlpConfig model;
  OptimizerConfig optimizer{.name = "sgd", .momentum = 0.9, .nesterov = true, .weight_decay = 5e-4};
  double lr = 0.2;
  ScheduleConfig schedule;            // total_steps is filled in from epochs when left 0
  double warmup_epochs = 0.5;         // converted to warmup steps when schedule.warmup_steps is 0
  std::int64_t global_batch = 512;    // over all ranks
  int micro_batches = 1;              // gradient accumulation: backward passes per step and rank
  int epochs = 10;
  std::int64_t max_steps = -1;        // stop early after this many steps (tests); -1: no limit
  std::uint64_t seed = 1;
  bool shuffle = true;
  bool evaluate = true;               // test accuracy after every epoch
  bool progress = true;               // a progress bar on rank 0
  std::filesystem::path metrics_csv;  // per-step metrics from rank 0
  std::filesystem::path checkpoint_dir;
  std::int64_t checkpoint_every = 0;  // steps between checkpoints; 0: at the end of every epoch
  std::filesystem::path resume;       // a checkpoint to continue from
};

struct EpochResult {
  int epoch = 0;
  double train_loss = 0;     // mean over every sample of the epoch, all ranks
  double test_loss = 0;
  double test_accuracy = 0;  // fraction
  double seconds = 0;
};

struct TrainResult {
  std::vector<EpochResult> epochs;
  double train_loss = 0;
  double test_loss = 0;
  double test_accuracy = 0;
  double samples_per_sec = 0;  // training samples per second over all ranks (evaluation excluded)
  double train_seconds = 0;
  double wall_seconds = 0;
  std::int64_t steps = 0;
  std::int64_t samples = 0;
  std::vector<std::filesystem::path> checkpoints;
};

// Trains model on data with strategy. Collective: every rank of comm calls it with the same
// config. The model is initialised from config.seed unless config.resume names a checkpoint.
TrainResult train(const TrainConfig& config, const DataSplit& data, const Comm& comm,
                  Strategy& strategy, Mlp& model);

// ---- Pieces of the loop, shared by train() and the GPU loop (dtlab/cuda/train.hpp) ----

// The learning-rate schedule of config: warmup and total steps filled in from the epochs.
LrSchedule make_schedule(const TrainConfig& config, std::int64_t steps_per_epoch);

// Samples per micro-batch of a local batch; throws unless config.micro_batches divides it.
std::int64_t micro_batch_size(const TrainConfig& config, std::int64_t local_batch, int world);

// Per-step metrics, written by rank 0 to <path>.partial and renamed to path by close(), so that a
// run that dies leaves no file that looks complete. Does nothing where path is empty or !lead.
class MetricsCsv {
 public:
  MetricsCsv(const std::filesystem::path& path, bool lead);
  bool is_open() const { return out_.is_open(); }
  void row(std::int64_t step, std::int64_t epoch, double lr, double loss, double samples_per_sec,
           double seconds);
  void close();

 private:
  std::filesystem::path path_;
  std::ofstream out_;
};

// The line rank 0 prints after each epoch.
void print_epoch(const EpochResult& epoch, int epochs, double samples_per_sec);

// Fills res's summary (last epoch's losses and accuracy, steps, samples/s, wall time).
void summarise(TrainResult& res, std::int64_t steps, double wall_seconds);

// Loss and accuracy of model on a dataset, each rank evaluating its shard; collective.
EpochResult evaluate(const Comm& comm, Mlp& model, const Dataset& data);

}  // namespace dtlab
