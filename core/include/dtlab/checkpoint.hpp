// Checkpoints: what a training run needs to continue exactly where it stopped. One safetensors
// file per checkpoint, written atomically, checked against the model and optimizer on load.
#pragma once

#include <cstdint>
#include <filesystem>

#include "dtlab/mlp.hpp"
#include "dtlab/optim.hpp"

namespace dtlab {

// Training state beyond the parameters that a checkpoint keeps.
struct TrainState {
  std::int64_t step = 0;        // steps done
  std::int64_t epoch = 0;       // the epoch the next step belongs to
  std::int64_t next_batch = 0;  // its batch within that epoch
  std::uint64_t seed = 0;       // the data order is a function of (seed, epoch)
};

// A safetensors file with the parameters as layers.L.weight / layers.L.bias, the optimizer state
// as optimizer.<buffer>.layers.L.weight, and the training state in the metadata.
void save_checkpoint(const std::filesystem::path& path, const Mlp& model, Optimizer& opt,
                     const TrainState& state);
// Checks that the model and optimizer match the file before changing anything.
TrainState load_checkpoint(const std::filesystem::path& path, Mlp& model, Optimizer& opt);

// The file of the checkpoint taken after `step` steps in dir: step-00000117.safetensors.
std::filesystem::path checkpoint_path(const std::filesystem::path& dir, std::int64_t step);

}  // namespace dtlab
