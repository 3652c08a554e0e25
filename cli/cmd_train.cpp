// dtlab train: an MLP on Fashion-MNIST (or synthetic data) on one or more ranks.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "dtlab/comm.hpp"
#include "dtlab/data.hpp"
#include "dtlab/error.hpp"
#include "dtlab/oplog.hpp"
#include "dtlab/train.hpp"
#include "lab01/collectives.hpp"
#include "lab02/ddp.hpp"
#ifdef DTLAB_WITH_CUDA
#include "dtlab/cuda/train.hpp"
#include "lab02/cuda/ddp_cuda.hpp"
#endif

namespace dtlab::cli {

namespace {

struct TrainOptions {
  TrainConfig cfg;
  std::string dataset = "fashion-mnist";
  std::string data_dir;
  std::int64_t synthetic_samples = 8192;
  std::string strategy = "auto";
  double bucket_mb = 25;
  bool overlap = true;
  std::string allreduce = "mpi";
  std::string device = "cpu";
  std::string device_comm = "auto";
  bool tf32 = false;
  double lr_step_epochs = 0;
  std::string json;
  bool quiet = false;
  TraceOptions trace;
};

DataSplit load_data(const TrainOptions& o) {
  if (o.dataset == "synthetic") {
    SyntheticConfig sc;
    sc.train = o.synthetic_samples;
    sc.test = std::max<std::int64_t>(o.synthetic_samples / 4, 1);
    sc.features = o.cfg.model.inputs;
    sc.seed = o.cfg.seed;
    return make_synthetic(sc);
  }
  return load_fashion_mnist(o.data_dir.empty() ? default_fashion_mnist_dir() : std::filesystem::path(o.data_dir));
}

// The strategies this program trains with, built by name: the loop is handed the object, and no
// table outside this file needs to know about them.
const std::vector<std::string> kStrategies = {"allreduce", "ddp", "single"};

void check_strategy(const std::string& name) {
  if (std::find(kStrategies.begin(), kStrategies.end(), name) == kStrategies.end())
    throw Error(fmt::format("unknown strategy '{}'; known: {}", name, fmt::join(kStrategies, ", ")));
}

std::unique_ptr<Strategy> make_strategy(const std::string& name, const TrainOptions& o) {
  check_strategy(name);
  if (name == "single") return std::make_unique<SingleProcess>();
  if (name == "allreduce") return std::make_unique<AllreduceDataParallel>();
  // Lab 02's reference, bucketed on the library allreduce or on Lab 01's reference one.
  return std::make_unique<lab02::DistributedDataParallel>(lab02::DdpOptions{
      .bucket_bytes = std::size_t(o.bucket_mb * double(1 << 20)),
      .overlap = o.overlap,
      .allreduce = o.allreduce == "lab01" ? lab02::AllreduceFn(lab01::allreduce<float>)
                                          : lab02::AllreduceFn(lab02::library_allreduce)});
}

#ifdef DTLAB_WITH_CUDA
cuda::GpuStrategyFactory gpu_strategy(const std::string& name, const TrainOptions& o) {
  check_strategy(name);
  if (name == "single") return [](cuda::DeviceComm&) { return std::make_unique<cuda::GpuSingle>(); };
  if (name == "allreduce") return [](cuda::DeviceComm& d) { return std::make_unique<cuda::GpuAllreduce>(d); };
  // On the GPU, Lab 02's reference is the stream-and-event version of the same plan.
  const lab02::cuda::GpuDdpOptions options{
      .bucket_bytes = std::size_t(o.bucket_mb * double(1 << 20)),
      .overlap = o.overlap,
      .allreduce = o.allreduce == "lab01" ? lab02::cuda::DeviceAllreduce::lab01
                                          : lab02::cuda::DeviceAllreduce::device_comm};
  return [options](cuda::DeviceComm& d) {
    return std::make_unique<lab02::cuda::GpuDistributedDataParallel>(d, options);
  };
}
#endif

int run(TrainOptions& o, const LaunchOptions& launch) {
  const Comm world = Comm::world();
  check_world_size(launch.ranks);
  OpLog::instance().set_enabled(o.trace.wanted());
  const std::string strategy_name =
      o.strategy != "auto" ? o.strategy : (world.size() == 1 ? "single" : "allreduce");
  const bool cuda = o.device == "cuda";
#ifndef DTLAB_WITH_CUDA
  if (cuda)
    throw Error("--device cuda: this dtlab was built without CUDA (no nvcc, or no NCCL, when it was "
                "configured); `./dtlab info` tells what it was built with");
#endif
  // The CPU strategy (also for its name in the banner; the GPU loop makes its own).
  auto strategy = make_strategy(strategy_name, o);

  TrainConfig& cfg = o.cfg;
  cfg.progress = !o.quiet;
  const DataSplit data = load_data(o);
  cfg.model.inputs = data.train.features;
  cfg.model.classes = data.train.classes;
  if (cfg.schedule.kind == "step" && o.lr_step_epochs > 0) {
    const std::int64_t per_epoch = data.train.size / cfg.global_batch;
    cfg.schedule.step_size = std::max<std::int64_t>(1, std::llround(o.lr_step_epochs * per_epoch));
  }
  Mlp model(cfg.model);
  if (world.rank() == 0 && !o.quiet)
    std::printf("dtlab train: %s on %s (%lld train / %lld test), %d rank%s, strategy %s, global "
                "batch %lld, %s lr %g (%s), %d epoch%s, on %s\n",
                cfg.model.describe().c_str(), data.train.name.c_str(), (long long)data.train.size,
                (long long)data.test.size, world.size(), world.size() > 1 ? "s" : "",
                std::string(strategy->name()).c_str(), (long long)cfg.global_batch,
                cfg.optimizer.name.c_str(), cfg.lr, cfg.schedule.kind.c_str(), cfg.epochs,
                cfg.epochs > 1 ? "s" : "", cuda ? "the GPU" : "the CPU");
  std::fflush(stdout);

#ifdef DTLAB_WITH_CUDA
  const TrainResult res =
      cuda ? cuda::train_cuda(cfg, {gpu_strategy(strategy_name, o), cuda::parse_backend(o.device_comm), o.tf32},
                              data, world, model)
           : train(cfg, data, world, *strategy, model);
#else
  const TrainResult res = train(cfg, data, world, *strategy, model);
#endif
  const double modeled = write_trace_outputs(o.trace);
  if (world.rank() != 0) return 0;

  const Counters& ct = OpLog::instance().counters();
  nlohmann::json j = {
      {"train_loss", res.train_loss},
      {"test_loss", res.test_loss},
      {"test_accuracy", res.test_accuracy},
      {"samples_per_sec", res.samples_per_sec},
      {"ranks", world.size()},
      {"epochs", res.epochs.size()},
      {"steps", res.steps},
      {"samples", res.samples},
      {"wall_seconds", res.wall_seconds},
      {"train_seconds", res.train_seconds},
      {"global_batch", cfg.global_batch},
      {"model", cfg.model.describe()},
      {"parameters", model.num_params()},
      {"dataset", data.train.name},
      {"strategy", strategy->name()},
      {"device", o.device},
      {"optimizer", cfg.optimizer.name},
      {"lr", cfg.lr},
      {"schedule", cfg.schedule.kind},
      {"seed", cfg.seed},
      {"rank0_collectives", ct.collectives},
      {"rank0_collective_bytes", ct.collective_bytes},
      {"rank0_bytes_sent", ct.bytes_sent},
  };
  if (o.trace.wanted()) j["modeled_seconds"] = modeled;
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& e : res.epochs)
    hist.push_back({{"epoch", e.epoch + 1},
                    {"train_loss", e.train_loss},
                    {"test_loss", e.test_loss},
                    {"test_accuracy", e.test_accuracy},
                    {"seconds", e.seconds}});
  j["history"] = hist;
  if (!res.checkpoints.empty()) j["last_checkpoint"] = res.checkpoints.back().string();
  if (!o.json.empty()) write_json_file(o.json, j.dump(2));
  if (!o.quiet)
    std::printf("done: test accuracy %.2f%%, train loss %.4f, %.0f samples/s on %d rank%s, "
                "%.1f s\n",
                100 * res.test_accuracy, res.train_loss, res.samples_per_sec, world.size(),
                world.size() > 1 ? "s" : "", res.wall_seconds);
  return 0;
}

}  // namespace

void add_train(CLI::App& app, Command& cmd) {
  auto o = std::make_shared<TrainOptions>();
  auto* c = app.add_subcommand("train", "Train the MLP on one or more ranks");
  cmd.app = c;
  TrainConfig& cfg = o->cfg;
  c->add_option("--ranks,-n", cmd.launch.ranks,
                "Number of MPI ranks (dtlab starts mpirun itself; inside an mpirun or srun job, "
                "the job's by default)")
      ->check(CLI::Range(1, 4096));
  c->add_option("--hostfile", cmd.launch.hostfile, "mpirun hostfile, to run across machines")
      ->check(CLI::ExistingFile);
  c->add_option("--strategy", o->strategy,
                "How ranks keep in step: auto (single for 1 rank, else allreduce), single, allreduce, "
                "ddp (Lab 02: buckets overlapping backward)");
  c->add_option("--bucket-mb", o->bucket_mb, "ddp: bucket size in MiB (PyTorch's bucket_cap_mb)")
      ->check(CLI::Range(0.0, 1e6));
  c->add_flag("--overlap,!--no-overlap", o->overlap,
              "ddp: start each bucket's allreduce during backward (on unless --no-overlap)");
  c->add_option("--allreduce", o->allreduce, "ddp: the buckets' allreduce: mpi (MPI_Allreduce) or lab01 "
                                             "(Lab 01's reference, chosen by size)")
      ->check(CLI::IsMember({"mpi", "lab01"}));
  c->add_option("--micro-batches", cfg.micro_batches,
                "Gradient accumulation: backward passes per step, each on 1/N of the local batch")
      ->check(CLI::Range(1, 1 << 20));
  c->add_option("--device", o->device,
                "Where to compute: cpu, or cuda (one GPU per rank, shared when ranks outnumber GPUs; "
                "strategies single, allreduce and ddp)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  c->add_option("--comm", o->device_comm,
                "cuda: how device buffers are reduced: auto (NCCL unless ranks share a GPU), nccl, "
                "or staged (through pinned host memory and MPI)")
      ->check(CLI::IsMember({"auto", "nccl", "staged"}));
  c->add_flag("--tf32", o->tf32, "cuda: let cuBLAS use TF32 tensor cores (PyTorch's allow_tf32)");
  c->add_option("--dataset", o->dataset, "fashion-mnist or synthetic")
      ->check(CLI::IsMember({"fashion-mnist", "synthetic"}));
  c->add_option("--data-dir", o->data_dir,
                "Folder with the Fashion-MNIST IDX files (default: $DTLAB_DATA, else "
                "/usr/share/datasets/fashion-mnist)");
  c->add_option("--synthetic-samples", o->synthetic_samples, "Training samples of --dataset synthetic")
      ->check(CLI::Range(std::int64_t(1), std::int64_t(1) << 31));
  c->add_option("--hidden", cfg.model.hidden, "Hidden layer widths, e.g. 512,256")->delimiter(',');
  c->add_option("--batch", cfg.global_batch, "Global batch size, over all ranks")
      ->check(CLI::Range(std::int64_t(1), std::int64_t(1) << 24));
  c->add_option("--epochs", cfg.epochs, "Epochs")->check(CLI::Range(1, 100000));
  c->add_option("--max-steps", cfg.max_steps, "Stop after this many steps");
  c->add_option("--seed", cfg.seed, "Seed of the initial model and of the data order");
  c->add_option("--optimizer", cfg.optimizer.name, "sgd, adam or adamw")
      ->check(CLI::IsMember({"sgd", "adam", "adamw"}));
  c->add_option("--lr", cfg.lr, "Peak learning rate");
  c->add_option("--momentum", cfg.optimizer.momentum, "SGD momentum");
  c->add_flag("--nesterov,!--no-nesterov", cfg.optimizer.nesterov, "Nesterov momentum (on unless --no-nesterov)");
  c->add_option("--weight-decay", cfg.optimizer.weight_decay, "Weight decay");
  c->add_option("--schedule", cfg.schedule.kind, "Learning-rate schedule: constant, step or cosine")
      ->check(CLI::IsMember({"constant", "step", "cosine"}));
  c->add_option("--warmup-epochs", cfg.warmup_epochs, "Linear warmup, in epochs");
  c->add_option("--min-lr-ratio", cfg.schedule.min_lr_ratio, "Cosine: final lr as a fraction of --lr");
  c->add_option("--lr-step-epochs", o->lr_step_epochs, "Step schedule: epochs between decays");
  c->add_option("--lr-gamma", cfg.schedule.gamma, "Step schedule: decay factor");
  c->add_flag("!--no-eval", cfg.evaluate, "Skip the test-set evaluation after each epoch");
  c->add_option("--json", o->json, "Write the final metrics as JSON");
  c->add_option("--metrics", cfg.metrics_csv, "Write per-step metrics as CSV");
  c->add_option("--checkpoint-dir", cfg.checkpoint_dir, "Write safetensors checkpoints here");
  c->add_option("--checkpoint-every", cfg.checkpoint_every,
                "Steps between checkpoints (0: after every epoch)");
  c->add_option("--resume", cfg.resume, "Continue from this checkpoint")->check(CLI::ExistingFile);
  c->add_flag("--quiet,-q", o->quiet, "Print nothing but errors");
  o->trace.add(c);
  c->callback([c, o] {
    if (c->count("--lr-step-epochs") && o->cfg.schedule.kind != "step")
      throw CLI::ValidationError("--lr-step-epochs", "needs --schedule step");
    if (o->cfg.schedule.kind == "step" && !(o->lr_step_epochs > 0))
      throw CLI::ValidationError("--schedule step", "needs --lr-step-epochs (epochs between decays)");
  });
  cmd.run = [o, &cmd] { return run(*o, cmd.launch); };
}

}  // namespace dtlab::cli
