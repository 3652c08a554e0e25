// A training program: `dtlab train` and every lab's train program (labs/NN-name/programs/train.cpp)
// take the same options and write the same outputs (epoch lines, --json, --metrics, --trace,
// --oplog, checkpoints), so that results compare across labs. A lab program names its strategies
// and builds them; this file does the rest.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dtlab/program/launch.hpp"
#include "dtlab/program/outputs.hpp"
#include "dtlab/train.hpp"

namespace dtlab::cuda {
class GpuStrategy;
class DeviceComm;
}  // namespace dtlab::cuda

namespace dtlab::program {

struct TrainOptions {
  TrainConfig cfg;
  std::string dataset = "fashion-mnist";
  std::string data_dir;
  std::int64_t synthetic_samples = 8192;
  std::string strategy;  // empty: the program's first
  std::string device = "cpu";
  std::string device_comm = "auto";
  bool tf32 = false;
  double lr_step_epochs = 0;
  std::string json;
  bool quiet = false;
  TraceOptions trace;
  LaunchOptions launch;
};

// The strategies a program trains with, built by name when the run starts: no table outside the
// program knows them.
struct Strategies {
  std::vector<std::string> names;  // what --strategy accepts; the first is the default
  std::function<std::unique_ptr<Strategy>(const std::string& name)> make;
  // Or, for a program whose ranks each hold part of the model (Lab 03): dtlab::train_sharded's.
  std::function<std::unique_ptr<ShardedStrategy>(const std::string& name)> make_sharded;
  // Or, for a program whose ranks do not step together (Lab 04's servers and workers): its own
  // loop, collective over world. It trains model's configuration on data and returns, on world
  // rank 0, the result train() would (epochs evaluated, samples, seconds), leaving the trained
  // parameters in model; it may add its own fields to the --json report (extra, on rank 0).
  using Loop = std::function<TrainResult(const TrainConfig&, const DataSplit&, const Comm& world, Mlp& model,
                                         nlohmann::json& extra)>;
  std::function<Loop(const std::string& name)> make_loop;
  // The model's hidden widths unless --hidden is given; empty: dtlab's default (512,256).
  std::vector<int> hidden;
  // The peak learning rate unless --lr is given; 0: dtlab's default.
  double lr = 0;
  // On the GPU (dtlab/cuda/train.hpp's loop makes each rank's strategy for its own device); empty
  // where the program has none, and a null maker for a strategy with no GPU version. A program
  // with its own loop (make_loop) trains on the GPU in dtlab's loop with this strategy instead.
  using GpuMaker = std::function<std::unique_ptr<cuda::GpuStrategy>(cuda::DeviceComm&)>;
  std::function<GpuMaker(const std::string& name)> make_gpu;
  // Or make_sharded's strategies on the GPU, run by the same loop (train_sharded): each places its
  // rank on a GPU in setup. device_comm and tf32 are --device-comm and --tf32. Null for a strategy
  // with no GPU version.
  std::function<std::unique_ptr<ShardedStrategy>(const std::string& name, const std::string& device_comm,
                                                  bool tf32)>
      make_sharded_gpu;
};

// The options of `dtlab train` (data, model, optimizer, schedule, outputs, ranks) on app.
void add_train_options(CLI::App& app, TrainOptions& o, const std::string& strategy_help);

// Loads the data, trains with the chosen strategy (on the CPU loop, dtlab::train, or the GPU loop),
// prints the banner, the epoch lines, the result and, on several ranks, the speedup over one
// process; writes what the options ask for. Collective: every rank of the job calls it.
int run_training(TrainOptions& o, const Strategies& strategies);

// main() of a training program: parses the options (add_options adds the program's own), starts
// mpirun when they ask for more ranks than the job has, then runs run_training.
int train_main(int argc, char** argv, const std::string& description, const Strategies& strategies,
               const std::function<void(CLI::App&)>& add_options = {});

// main() of any other MPI program: app is set up by the caller, run is called once the job has
// started. The same launch rules as train_main.
int mpi_main(int argc, char** argv, CLI::App& app, const LaunchOptions& launch,
             const std::function<int()>& run);

}  // namespace dtlab::program
