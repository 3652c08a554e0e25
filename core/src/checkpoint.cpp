// Checkpoints of the training loop: the parameters, the optimizer state and where the loop was, in
// one safetensors file.
#include "dtlab/checkpoint.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "dtlab/error.hpp"
#include "dtlab/safetensors.hpp"

namespace dtlab {

namespace fs = std::filesystem;

fs::path checkpoint_path(const fs::path& dir, std::int64_t step) {
  return dir / fmt::format("step-{:08d}.safetensors", step);
}


void save_checkpoint(const fs::path& path, const Mlp& model, Optimizer& opt, const TrainState& st) {
  std::vector<TensorRef> tensors;
  auto add = [&](const std::string& prefix, std::span<const float> flat) {
    for (std::size_t l = 0; l < model.layers().size(); ++l) {
      const auto& s = model.layers()[l];
      tensors.push_back(TensorRef::f32(fmt::format("{}layers.{}.weight", prefix, l), {s.out, s.in},
                                       flat.subspan(s.weight, std::size_t(s.out) * s.in)));
      tensors.push_back(TensorRef::f32(fmt::format("{}layers.{}.bias", prefix, l), {s.out},
                                       flat.subspan(s.bias, std::size_t(s.out))));
    }
  };
  add("", model.params());
  for (const auto& [name, buf] : opt.state()) add(fmt::format("optimizer.{}.", name), buf);
  write_safetensors(path, tensors,
                    {{"format", "dtlab-checkpoint"},
                     {"version", "1"},
                     {"model", model.config().describe()},
                     {"optimizer", std::string(opt.name())},
                     {"optimizer_steps", std::to_string(opt.steps())},
                     {"step", std::to_string(st.step)},
                     {"epoch", std::to_string(st.epoch)},
                     {"next_batch", std::to_string(st.next_batch)},
                     {"seed", std::to_string(st.seed)}});
}

TrainState load_checkpoint(const fs::path& path, Mlp& model, Optimizer& opt) {
  const SafetensorsFile f = read_safetensors(path);
  auto meta = [&](const std::string& key) -> const std::string& {
    const auto it = f.metadata.find(key);
    if (it == f.metadata.end())
      throw Error(fmt::format("{}: not a dtlab checkpoint: metadata has no '{}'", path.string(), key));
    return it->second;
  };
  auto number = [&](const std::string& key) -> std::int64_t {
    try {
      return std::stoll(meta(key));
    } catch (const std::logic_error&) {
      throw Error(fmt::format("{}: metadata '{}' = '{}' is not a number", path.string(), key, meta(key)));
    }
  };
  if (meta("format") != "dtlab-checkpoint")
    throw Error(fmt::format("{}: not a dtlab checkpoint (format '{}')", path.string(), meta("format")));
  if (meta("model") != model.config().describe())
    throw Error(fmt::format("{}: holds a {} model, but this run builds {}", path.string(),
                            meta("model"), model.config().describe()));
  if (meta("optimizer") != opt.name())
    throw Error(fmt::format("{}: was saved with optimizer {}, but this run uses {}", path.string(),
                            meta("optimizer"), opt.name()));
  // Read everything before touching the model, so that a bad file changes nothing.
  std::vector<std::pair<std::span<float>, std::vector<float>>> copies;
  auto take = [&](const std::string& prefix, std::span<float> flat) {
    for (std::size_t l = 0; l < model.layers().size(); ++l) {
      const auto& s = model.layers()[l];
      for (const bool weight : {true, false}) {
        const std::string name = fmt::format("{}layers.{}.{}", prefix, l, weight ? "weight" : "bias");
        const Tensor* t = nullptr;
        try {
          t = &f.at(name);
        } catch (const Error& e) {
          throw Error(fmt::format("{}: {}", path.string(), e.what()));
        }
        const std::size_t n = weight ? std::size_t(s.out) * s.in : std::size_t(s.out);
        if (t->dtype != "F32" || std::size_t(t->elements()) != n)
          throw Error(fmt::format("{}: tensor {} is {} with {} elements; expected F32 with {}",
                                  path.string(), name, t->dtype, t->elements(), n));
        copies.emplace_back(flat.subspan(weight ? s.weight : s.bias, n), t->f32());
      }
    }
  };
  take("", model.params());
  for (const auto& [name, buf] : opt.state()) take(fmt::format("optimizer.{}.", name), buf);
  TrainState st{number("step"), number("epoch"), number("next_batch"),
                std::uint64_t(std::stoull(meta("seed")))};
  const std::int64_t opt_steps = number("optimizer_steps");
  for (auto& [dst, src] : copies) std::copy(src.begin(), src.end(), dst.begin());
  opt.set_steps(opt_steps);
  return st;
}

}  // namespace dtlab
