#include "dtlab/program/train.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <unistd.h>

#include "dtlab/baseline.hpp"
#include "dtlab/comm.hpp"
#include "dtlab/data.hpp"
#include "dtlab/error.hpp"
#include "dtlab/oplog.hpp"
#include "dtlab/runtime.hpp"
#ifdef DTLAB_WITH_CUDA
#include "dtlab/cuda/train.hpp"
#endif

namespace dtlab::program {

namespace {

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

// The host name of each rank, from the fixed-width names that every rank contributed.
std::vector<std::string> hosts_of_ranks(const std::vector<std::uint8_t>& names, std::size_t width) {
  std::vector<std::string> hosts;
  for (std::size_t at = 0; at < names.size(); at += width)
    hosts.emplace_back(reinterpret_cast<const char*>(names.data() + at));
  return hosts;
}

}  // namespace

void add_train_options(CLI::App& app, TrainOptions& o, const std::string& strategy_help) {
  CLI::App* c = &app;
  TrainConfig& cfg = o.cfg;
  c->add_option("--ranks,-n", o.launch.ranks,
                "Number of MPI ranks (the program starts mpirun itself; inside an mpirun or srun job, "
                "the job's by default)")
      ->check(CLI::Range(1, 4096));
  add_placement_options(*c, o.launch);
  c->add_option("--strategy", o.strategy, strategy_help);
  c->add_option("--micro-batches", cfg.micro_batches,
                "Gradient accumulation: backward passes per step, each on 1/N of the local batch")
      ->check(CLI::Range(1, 1 << 20));
  c->add_option("--device", o.device,
                "Where to compute: cpu, or cuda (one GPU per rank, shared when ranks outnumber GPUs)")
      ->check(CLI::IsMember({"cpu", "cuda"}));
  c->add_option("--comm", o.device_comm,
                "cuda: how device buffers are reduced: auto (NCCL unless ranks share a GPU), nccl, "
                "or staged (through pinned host memory and MPI)")
      ->check(CLI::IsMember({"auto", "nccl", "staged"}));
  c->add_flag("--tf32", o.tf32, "cuda: let cuBLAS use TF32 tensor cores (PyTorch's allow_tf32)");
  c->add_option("--dataset", o.dataset, "fashion-mnist or synthetic")
      ->check(CLI::IsMember({"fashion-mnist", "synthetic"}));
  c->add_option("--data-dir", o.data_dir,
                "Folder with the Fashion-MNIST IDX files (default: $DTLAB_DATA, else "
                "/usr/share/datasets/fashion-mnist)");
  c->add_option("--synthetic-samples", o.synthetic_samples, "Training samples of --dataset synthetic")
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
  c->add_option("--lr-step-epochs", o.lr_step_epochs, "Step schedule: epochs between decays");
  c->add_option("--lr-gamma", cfg.schedule.gamma, "Step schedule: decay factor");
  c->add_flag("!--no-eval", cfg.evaluate, "Skip the test-set evaluation after each epoch");
  c->add_option("--json", o.json, "Write the final metrics as JSON");
  c->add_option("--metrics", cfg.metrics_csv, "Write per-step metrics as CSV");
  c->add_option("--checkpoint-dir", cfg.checkpoint_dir, "Write safetensors checkpoints here");
  c->add_option("--checkpoint-every", cfg.checkpoint_every,
                "Steps between checkpoints (0: after every epoch)");
  c->add_option("--resume", cfg.resume, "Continue from this checkpoint")->check(CLI::ExistingFile);
  c->add_flag("--quiet,-q", o.quiet, "Print nothing but errors");
  o.trace.add(c);
  c->callback([c, &o] {
    if (c->count("--lr-step-epochs") && o.cfg.schedule.kind != "step")
      throw CLI::ValidationError("--lr-step-epochs", "needs --schedule step");
    if (o.cfg.schedule.kind == "step" && !(o.lr_step_epochs > 0))
      throw CLI::ValidationError("--schedule step", "needs --lr-step-epochs (epochs between decays)");
  });
}

int run_training(TrainOptions& o, const Strategies& strategies) {
  const Comm world = Comm::world();
  check_world_size(o.launch.ranks);
  OpLog::instance().set_enabled(o.trace.wanted());
  const std::string name = o.strategy.empty() ? strategies.names.at(0) : o.strategy;
  if (std::find(strategies.names.begin(), strategies.names.end(), name) == strategies.names.end())
    throw Error(fmt::format("unknown strategy '{}'; this program knows: {}", name,
                            fmt::join(strategies.names, ", ")));
  const bool cuda = o.device == "cuda";
#ifndef DTLAB_WITH_CUDA
  if (cuda)
    throw Error("--device cuda: this program was built without CUDA (no nvcc, or no NCCL, when it "
                "was configured); `./dtlab info` tells what it was built with");
#endif
  // The strategy's GPU version, where the program has one for it (make_gpu may return none).
  const Strategies::GpuMaker gpu = cuda && strategies.make_gpu ? strategies.make_gpu(name) : nullptr;
  // The CPU strategy (also for its name in the banner; the GPU loop makes its own), the program's
  // own loop (on the CPU only: on the GPU the strategy's GPU version runs in dtlab's loop), or the
  // sharded one, on the device that --device names.
  const Strategies::Loop loop = !gpu && strategies.make_loop ? strategies.make_loop(name) : nullptr;
  const std::unique_ptr<Strategy> strategy =
      strategies.make_sharded || loop || !strategies.make ? nullptr : strategies.make(name);
  std::unique_ptr<ShardedStrategy> sharded;
  if (strategies.make_sharded)
    sharded = !cuda ? strategies.make_sharded(name)
              : strategies.make_sharded_gpu ? strategies.make_sharded_gpu(name, o.device_comm, o.tf32)
                                            : nullptr;
  if (cuda && (strategies.make_sharded ? !sharded : !gpu))
    throw Error(fmt::format("--device cuda: strategy '{}' has no GPU version in this program", name));
  const std::string strategy_name(strategy ? std::string(strategy->name()) : sharded ? std::string(sharded->name()) : name);

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
  const int p = world.size();
  if (world.rank() == 0 && !o.quiet)
    std::printf("%s: %s on %s (%lld train / %lld test), %d rank%s, strategy %s, global batch %lld, "
                "%s lr %g (%s), %d epoch%s, on %s\n",
                std::filesystem::path(self_exe()).filename().c_str(), cfg.model.describe().c_str(),
                data.train.name.c_str(), (long long)data.train.size, (long long)data.test.size, p,
                p > 1 ? "s" : "", strategy_name.c_str(), (long long)cfg.global_batch,
                cfg.optimizer.name.c_str(), cfg.lr, cfg.schedule.kind.c_str(), cfg.epochs,
                cfg.epochs > 1 ? "s" : "", cuda ? "the GPU" : "the CPU");
  std::fflush(stdout);

  nlohmann::json extra = nlohmann::json::object();
#ifdef DTLAB_WITH_CUDA
  const TrainResult res =
      loop      ? loop(cfg, data, world, model, extra)
      : sharded ? train_sharded(cfg, data, world, *sharded, model)
      : cuda  ? cuda::train_cuda(cfg, {gpu, cuda::parse_backend(o.device_comm), o.tf32},
                                 data, world, model)
              : train(cfg, data, world, *strategy, model);
#else
  const TrainResult res = loop      ? loop(cfg, data, world, model, extra)
                          : sharded ? train_sharded(cfg, data, world, *sharded, model)
                                    : train(cfg, data, world, *strategy, model);
#endif
  const double modeled = write_trace_outputs(o.trace);
  const Counters ct = OpLog::instance().counters();
  OpLog::instance().set_enabled(false);

  // The speedup over one process: rank 0 trains a copy on the global batch while the others wait,
  // so that it has a core to itself, as a 1-rank run would.
  double one = 0;
  if (p > 1 && !cuda) {
    if (world.rank() == 0) one = one_process_samples_per_sec(cfg, data.train, model);
    world.barrier();
  }
  // Where each rank ran (host names), so that a run on a cluster shows its placement.
  std::array<std::uint8_t, 64> host{};
  gethostname(reinterpret_cast<char*>(host.data()), host.size() - 1);
  std::vector<std::uint8_t> hosts(host.size() * std::size_t(p));
  baseline::allgather(world, std::span<const std::uint8_t>(host), std::span<std::uint8_t>(hosts));
  if (world.rank() != 0) return 0;

  nlohmann::json j = {
      {"train_loss", res.train_loss},
      {"test_loss", res.test_loss},
      {"test_accuracy", res.test_accuracy},
      {"samples_per_sec", res.samples_per_sec},
      {"ranks", p},
      {"hosts", hosts_of_ranks(hosts, host.size())},
      {"epochs", res.epochs.size()},
      {"steps", res.steps},
      {"samples", res.samples},
      {"wall_seconds", res.wall_seconds},
      {"train_seconds", res.train_seconds},
      {"global_batch", cfg.global_batch},
      {"model", cfg.model.describe()},
      {"parameters", model.num_params()},
      {"dataset", data.train.name},
      {"strategy", strategy_name},
      {"program", std::filesystem::path(self_exe()).filename().string()},
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
  if (one > 0) {
    j["one_process_samples_per_sec"] = one;
    j["speedup"] = res.samples_per_sec / one;
  }
  nlohmann::json hist = nlohmann::json::array();
  for (const auto& e : res.epochs)
    hist.push_back({{"epoch", e.epoch + 1},
                    {"train_loss", e.train_loss},
                    {"test_loss", e.test_loss},
                    {"test_accuracy", e.test_accuracy},
                    {"seconds", e.seconds}});
  j["history"] = hist;
  j.update(extra);
  if (!res.checkpoints.empty()) j["last_checkpoint"] = res.checkpoints.back().string();
  if (!o.json.empty()) write_json_file(o.json, j.dump(2));
  if (!o.quiet) {
    std::printf("done: test accuracy %.2f%%, train loss %.4f, %.0f samples/s on %d rank%s, %.1f s\n",
                100 * res.test_accuracy, res.train_loss, res.samples_per_sec, p, p > 1 ? "s" : "",
                res.wall_seconds);
    if (one > 0) {
      const double speedup = res.samples_per_sec / one;
      std::printf("speedup %.2fx over one process (%.0f samples/s, measured after training on the "
                  "same model and batch), efficiency %.0f%%%s\n",
                  speedup, one, 100 * speedup / p,
                  p > int(sysconf(_SC_NPROCESSORS_ONLN)) ? "; more ranks than cores: they take turns" : "");
    }
  }
  return 0;
}

int mpi_main(int argc, char** argv, CLI::App& app, const LaunchOptions& launch,
             const std::function<int()>& run) {
  // Outlives run_main's error handling, which needs MPI to tell whether every rank failed.
  std::optional<Runtime> runtime;
  return run_main(argc, argv, [&](int argc, char** argv) -> int {
    try {
      app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
      return app.exit(e);
    }
    use_tuned_allreduce_rules();  // before mpirun, which passes the environment on to the ranks
    if (needs_launch(launch)) exec_under_mpirun(launch, argc, argv);
    runtime.emplace(argc, argv);
    return run();
  });
}

int train_main(int argc, char** argv, const std::string& description, const Strategies& strategies,
               const std::function<void(CLI::App&)>& add_options) {
  CLI::App app{description};
  app.option_defaults()->always_capture_default()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  TrainOptions o;
  if (!strategies.hidden.empty()) o.cfg.model.hidden = strategies.hidden;
  if (strategies.lr > 0) o.cfg.lr = strategies.lr;
  add_train_options(app, o, fmt::format("How ranks keep in step: {}", fmt::join(strategies.names, ", ")));
  if (add_options) add_options(app);
  return mpi_main(argc, argv, app, o.launch, [&] { return run_training(o, strategies); });
}

}  // namespace dtlab::program
