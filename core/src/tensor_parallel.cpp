// Blocks of Linear layers for tensor parallelism, initialised as the unsplit MLP is.
#include "dtlab/tensor_parallel.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "dtlab/error.hpp"
#include "mlp_parts.hpp"

namespace dtlab {

Block even_block(int width, int parts, int index, std::string_view what) {
  if (parts < 1)
    throw Error(
        fmt::format("{} ({}) cannot be cut into {} parts: needs at least one", what, width, parts));
  if (width % parts != 0)
    throw Error(fmt::format("{} ({}) cannot be cut into {} equal parts: {} does not divide {}",
                            what, width, parts, parts, width));
  if (index < 0 || index >= parts)
    throw Error(fmt::format("{} ({}) cut into {} parts has parts 0..{}, not {}", what, width, parts,
                            parts - 1, index));
  const int size = width / parts;
  return {index * size, (index + 1) * size};
}

namespace {

LayerSlice layer_of(const MlpConfig& config, int layer) {
  const std::vector<LayerSlice> layers = detail::mlp_layers(config);
  if (layer < 0 || layer >= int(layers.size()))
    throw Error(fmt::format("MLP {} has layers 0..{}, not {}", config.describe(), layers.size() - 1,
                            layer));
  return layers[std::size_t(layer)];
}

}  // namespace

LinearShard column_shard(const MlpConfig& config, int layer, int parts, int index) {
  const LayerSlice s = layer_of(config, layer);
  const auto what = fmt::format("MLP {}, the outputs of layer {}", config.describe(), layer);
  return {layer, ShardKind::column, even_block(s.out, parts, index, what), {0, s.in}, true};
}

LinearShard row_shard(const MlpConfig& config, int layer, int parts, int index) {
  const LayerSlice s = layer_of(config, layer);
  const auto what = fmt::format("MLP {}, the inputs of layer {}", config.describe(), layer);
  return {layer, ShardKind::row, {0, s.out}, even_block(s.in, parts, index, what), index == 0};
}

void init_shard(const MlpConfig& config, const LinearShard& shard, std::uint64_t seed,
                std::span<float> weight, std::span<float> bias) {
  const LayerSlice s = layer_of(config, shard.layer);
  if (shard.out.begin < 0 || shard.out.begin > shard.out.end || shard.out.end > s.out ||
      shard.in.begin < 0 || shard.in.begin > shard.in.end || shard.in.end > s.in)
    throw Error(
        fmt::format("MLP {}, layer {} is {} x {}: its shard cannot hold outputs [{}, {}) and "
                    "inputs [{}, {})",
                    config.describe(), shard.layer, s.out, s.in, shard.out.begin, shard.out.end,
                    shard.in.begin, shard.in.end));
  if (weight.size() != shard.weight_size() || bias.size() != shard.bias_size())
    throw Error(
        fmt::format("MLP {}, a shard of layer {} needs {} weights and {} biases, got {} and {}",
                    config.describe(), shard.layer, shard.weight_size(), shard.bias_size(),
                    weight.size(), bias.size()));
  // The whole layer drawn as Mlp::init draws it, then the block cut out of it: a weight's value is
  // set by its position in the one stream of draws, row after row of the full layer.
  const LayerSlice alone{s.in, s.out, 0, std::size_t(s.in) * s.out};
  std::vector<float> full(alone.end());
  Rng rng = detail::init_rng(seed, detail::mlp_layers(config), std::size_t(shard.layer));
  detail::init_layer(rng, alone, full.data());
  const auto cols = std::size_t(shard.in.size());
  for (int r = shard.out.begin; r < shard.out.end; ++r) {
    const auto row = full.begin() + std::ptrdiff_t(std::size_t(r) * s.in + shard.in.begin);
    std::copy(row, row + std::ptrdiff_t(cols),
              weight.begin() + std::ptrdiff_t((r - shard.out.begin) * cols));
  }
  if (shard.bias)
    std::copy_n(full.begin() + std::ptrdiff_t(alone.bias + shard.out.begin), shard.out.size(),
                bias.begin());
}

}  // namespace dtlab
