// Checkpoints: what a training run needs to continue exactly where it stopped. One safetensors
// file per checkpoint, or per shard of a model split over ranks, written atomically, checked
// against the model and optimizer on load.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "dtlab/mlp.hpp"
#include "dtlab/optim.hpp"
#include "dtlab/stage.hpp"

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

// ---- Shards: each rank of a pipeline- or tensor-parallel run saves the part of the model it holds
// to a file of its own, at the same time as the others, and no rank gathers the whole model. ----

// A tensor in a flat buffer: its name in the file, its shape, and where it starts.
struct FlatTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::size_t offset = 0;
  std::size_t size() const;  // the product of the shape
};

// What one shard holds. Everything but the tensors goes into the file's metadata and must match on
// load, so that a rank cannot load another rank's part, or a part of another split.
struct CheckpointShard {
  std::string model;    // the whole model: MlpConfig::describe()
  int index = 0;        // this shard, 0-based
  int count = 1;        // of how many
  int first_layer = 0;  // the model's layers [first_layer, last_layer) it holds, whole or in part
  int last_layer = 0;
  std::string split;  // how those layers are cut, for tensor parallelism; "" for whole layers
  // Its parameters in the flat buffer, named as in the whole model's checkpoint (layers.L.weight);
  // each optimizer state buffer is laid out the same way and saved as optimizer.<buffer>.<name>.
  std::vector<FlatTensor> tensors;
};

// A pipeline stage as shard `index` of `count`: its layers under the model's layer numbers.
CheckpointShard checkpoint_shard(const MlpStage& stage, int index, int count);

// As save_checkpoint above, for one shard; params is the flat buffer shard.tensors point into.
void save_checkpoint(const std::filesystem::path& path, const CheckpointShard& shard,
                     std::span<const float> params, Optimizer& opt, const TrainState& state);
// Checks the file's model, shard, layers, split, optimizer and tensors before changing anything.
TrainState load_checkpoint(const std::filesystem::path& path, const CheckpointShard& shard,
                           std::span<float> params, Optimizer& opt);

// Shard `shard` (0-based, as ranks are) of `shards` of the checkpoint after `step` steps:
// step-00000117.shard-01-of-04.safetensors.
std::filesystem::path checkpoint_path(const std::filesystem::path& dir, std::int64_t step,
                                      int shard, int shards);

}  // namespace dtlab
