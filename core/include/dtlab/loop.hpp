// The parts every training loop is made of: its configuration and results, the learning-rate
// schedule, micro-batches, evaluation, the progress bar and epoch lines, per-step metrics, and the
// one-process rate a speedup is measured against. dtlab::train (train.hpp) and the GPU loop
// (dtlab/cuda/train.hpp) are written from them, and so is a lab's own loop where its ranks do not
// each hold the whole model. With data.hpp (datasets, DistributedSampler), checkpoint.hpp (the
// checkpoint format, whole or per shard) and the op log (oplog.hpp; timelines are drawn from it).
#pragma once

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <vector>

#include "dtlab/comm.hpp"
#include "dtlab/data.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/optim.hpp"

namespace dtlab {

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

// A one-line progress bar on rank 0's terminal; on a pipe (CI, mpirun without a terminal) nothing
// per step.
class Progress {
 public:
  Progress(bool on, int epochs, std::int64_t steps_per_epoch);
  void update(int epoch, std::int64_t batch, double loss, double samples_per_sec);
  void end_epoch();

 private:
  bool on_, tty_;
  int epochs_;
  std::int64_t steps_;
  double last_ = 0;
};

// The line rank 0 prints after each epoch.
void print_epoch(const EpochResult& epoch, int epochs, double samples_per_sec);

// Fills res's summary (last epoch's losses and accuracy, steps, samples/s, wall time).
void summarise(TrainResult& res, std::int64_t steps, double wall_seconds);

// Loss and accuracy of model on a dataset, each rank evaluating its shard; collective.
EpochResult evaluate(const Comm& comm, Mlp& model, const Dataset& data);

// Samples per second of one process training on the global batch (forward, backward and the
// optimizer step, on a copy of model, for at least `seconds`): what a run on p ranks is compared
// with to tell its speedup. Call it on one rank while the others wait, so that it has a core.
double one_process_samples_per_sec(const TrainConfig& config, const Dataset& data, const Mlp& model,
                                   double seconds = 0.5);

}  // namespace dtlab
