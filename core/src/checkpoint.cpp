// Checkpoints of the training loop: the parameters, the optimizer state and where the loop was, in
// one safetensors file, for the whole model or for one shard of it.
#include "dtlab/checkpoint.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <map>

#include "dtlab/error.hpp"
#include "dtlab/safetensors.hpp"

namespace dtlab {

namespace fs = std::filesystem;

fs::path checkpoint_path(const fs::path& dir, std::int64_t step) {
  return dir / fmt::format("step-{:08d}.safetensors", step);
}

fs::path checkpoint_path(const fs::path& dir, std::int64_t step, int shard, int shards) {
  return dir / fmt::format("step-{:08d}.shard-{:02d}-of-{:02d}.safetensors", step, shard, shards);
}

std::size_t FlatTensor::size() const {
  std::size_t n = 1;
  for (const auto d : shape) n *= std::size_t(d);
  return n;
}

namespace {

using Metadata = std::map<std::string, std::string>;

// layers.L.weight and layers.L.bias of each slice, L counting from `first`.
std::vector<FlatTensor> layer_tensors(const std::vector<LayerSlice>& layers, int first) {
  std::vector<FlatTensor> tensors;
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const auto& s = layers[i];
    const int l = first + int(i);
    tensors.push_back({fmt::format("layers.{}.weight", l), {s.out, s.in}, s.weight});
    tensors.push_back({fmt::format("layers.{}.bias", l), {s.out}, s.bias});
  }
  return tensors;
}

// f(prefix, flat) for the parameters (no prefix) and each optimizer state buffer
// (optimizer.<buffer>.), which the same tensors lay out.
template <class T, class F>
void for_each_buffer(std::span<T> params, Optimizer& opt, F&& f) {
  f(std::string(), params);
  for (const auto& [name, buf] : opt.state())
    f(fmt::format("optimizer.{}.", name), std::span<T>(buf));
}

void check_fits(const fs::path& path, const FlatTensor& t, const std::string& prefix,
                std::size_t flat) {
  if (t.offset + t.size() > flat)
    throw Error(
        fmt::format("{}: tensor {}{} at [{}, {}) does not fit in a flat buffer of {} floats",
                    path.string(), prefix, t.name, t.offset, t.offset + t.size(), flat));
}

// identity: what names the model (and the shard) in the metadata, checked on load.
void save(const fs::path& path, const std::vector<FlatTensor>& tensors,
          std::span<const float> params, Optimizer& opt, const TrainState& st, Metadata identity) {
  std::vector<TensorRef> refs;
  for_each_buffer(params, opt, [&](const std::string& prefix, std::span<const float> flat) {
    for (const auto& t : tensors) {
      check_fits(path, t, prefix, flat.size());
      refs.push_back(TensorRef::f32(prefix + t.name, t.shape, flat.subspan(t.offset, t.size())));
    }
  });
  identity.merge(Metadata{{"format", "dtlab-checkpoint"},
                          {"version", "1"},
                          {"optimizer", std::string(opt.name())},
                          {"optimizer_steps", std::to_string(opt.steps())},
                          {"step", std::to_string(st.step)},
                          {"epoch", std::to_string(st.epoch)},
                          {"next_batch", std::to_string(st.next_batch)},
                          {"seed", std::to_string(st.seed)}});
  write_safetensors(path, refs, std::move(identity));
}

// check(the file's metadata) throws when the file is not the one this run needs; it runs after the
// format check and before anything is read.
TrainState load(const fs::path& path, const std::vector<FlatTensor>& tensors,
                std::span<float> params, Optimizer& opt,
                const std::function<void(const Metadata&)>& check) {
  const SafetensorsFile f = read_safetensors(path);
  auto meta = [&](const std::string& key) -> const std::string& {
    const auto it = f.metadata.find(key);
    if (it == f.metadata.end())
      throw Error(
          fmt::format("{}: not a dtlab checkpoint: metadata has no '{}'", path.string(), key));
    return it->second;
  };
  auto number = [&](const std::string& key) -> std::int64_t {
    try {
      return std::stoll(meta(key));
    } catch (const std::logic_error&) {
      throw Error(
          fmt::format("{}: metadata '{}' = '{}' is not a number", path.string(), key, meta(key)));
    }
  };
  if (meta("format") != "dtlab-checkpoint")
    throw Error(
        fmt::format("{}: not a dtlab checkpoint (format '{}')", path.string(), meta("format")));
  meta("model");  // every checkpoint names its model; the checks below compare it
  check(f.metadata);
  if (meta("optimizer") != opt.name())
    throw Error(fmt::format("{}: was saved with optimizer {}, but this run uses {}", path.string(),
                            meta("optimizer"), opt.name()));
  // Read everything before touching the model, so that a bad file changes nothing.
  std::vector<std::pair<std::span<float>, std::vector<float>>> copies;
  for_each_buffer(params, opt, [&](const std::string& prefix, std::span<float> flat) {
    for (const auto& t : tensors) {
      check_fits(path, t, prefix, flat.size());
      const std::string name = prefix + t.name;
      const Tensor* got = nullptr;
      try {
        got = &f.at(name);
      } catch (const Error& e) {
        throw Error(fmt::format("{}: {}", path.string(), e.what()));
      }
      if (got->dtype != "F32" || std::size_t(got->elements()) != t.size())
        throw Error(fmt::format("{}: tensor {} is {} with {} elements; expected F32 with {}",
                                path.string(), name, got->dtype, got->elements(), t.size()));
      copies.emplace_back(flat.subspan(t.offset, t.size()), got->f32());
    }
  });
  TrainState st{number("step"), number("epoch"), number("next_batch"),
                std::uint64_t(std::stoull(meta("seed")))};
  const std::int64_t opt_steps = number("optimizer_steps");
  for (auto& [dst, src] : copies) std::copy(src.begin(), src.end(), dst.begin());
  opt.set_steps(opt_steps);
  return st;
}

std::string value_or(const Metadata& m, const std::string& key, const std::string& absent) {
  const auto it = m.find(key);
  return it == m.end() ? absent : it->second;
}

Metadata identity(const CheckpointShard& s) {
  return {{"model", s.model},
          {"shard", std::to_string(s.index)},
          {"shards", std::to_string(s.count)},
          {"first_layer", std::to_string(s.first_layer)},
          {"last_layer", std::to_string(s.last_layer)},
          {"split", s.split}};
}

// "shard 1 of 4 (layers [1, 3))", for the errors.
std::string describe(const Metadata& m) {
  const std::string split = value_or(m, "split", "");
  return fmt::format("shard {} of {} (layers [{}, {}){}{})", value_or(m, "shard", "?"),
                     value_or(m, "shards", "?"), value_or(m, "first_layer", "?"),
                     value_or(m, "last_layer", "?"), split.empty() ? "" : ", ", split);
}

}  // namespace

void save_checkpoint(const fs::path& path, const Mlp& model, Optimizer& opt, const TrainState& st) {
  save(path, layer_tensors(model.layers(), 0), model.params(), opt, st,
       {{"model", model.config().describe()}});
}

TrainState load_checkpoint(const fs::path& path, Mlp& model, Optimizer& opt) {
  return load(path, layer_tensors(model.layers(), 0), model.params(), opt, [&](const Metadata& m) {
    if (m.contains("shards"))
      throw Error(fmt::format("{}: is {} of a split model, not a whole one: load it into its shard",
                              path.string(), describe(m)));
    const std::string got = value_or(m, "model", "");
    if (got != model.config().describe())
      throw Error(fmt::format("{}: holds a {} model, but this run builds {}", path.string(), got,
                              model.config().describe()));
  });
}

CheckpointShard checkpoint_shard(const MlpStage& stage, int index, int count) {
  if (count < 1 || index < 0 || index >= count)
    throw Error(
        fmt::format("a checkpoint of {} shards has shards 0..{}, not {}", count, count - 1, index));
  return {stage.config().describe(),
          index,
          count,
          stage.first(),
          stage.last(),
          "",
          layer_tensors(stage.layers(), stage.first())};
}

void save_checkpoint(const fs::path& path, const CheckpointShard& shard,
                     std::span<const float> params, Optimizer& opt, const TrainState& st) {
  save(path, shard.tensors, params, opt, st, identity(shard));
}

TrainState load_checkpoint(const fs::path& path, const CheckpointShard& shard,
                           std::span<float> params, Optimizer& opt) {
  return load(path, shard.tensors, params, opt, [&](const Metadata& m) {
    if (!m.contains("shards"))
      throw Error(
          fmt::format("{}: holds a whole model, not {}", path.string(), describe(identity(shard))));
    const std::string got = value_or(m, "model", "");
    if (got != shard.model)
      throw Error(fmt::format("{}: is a shard of a {} model, but this run builds {}", path.string(),
                              got, shard.model));
    for (const auto& [key, value] : identity(shard))
      if (value_or(m, key, "") != value)
        throw Error(fmt::format("{}: is {}, but this rank loads {}", path.string(), describe(m),
                                describe(identity(shard))));
  });
}

}  // namespace dtlab
