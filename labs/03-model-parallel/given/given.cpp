// The parts of Lab 03 that are given to students (not to implement): the layouts of the tensor-
// and pipeline-parallel models, moving whole models in and out of them, the schedules' dry run and
// the data x pipeline grid.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <tuple>

#include "dtlab/baseline.hpp"
#include "dtlab/error.hpp"
#include "lab03/model_parallel.hpp"

namespace lab03 {

void library_allreduce(const Comm& group, std::span<float> data) { dtlab::baseline::allreduce(group, data); }

// ---- tensor parallelism: layout ----

TensorParallelMlp::TensorParallelMlp(dtlab::MlpConfig config, const Comm& group, AllreduceFn allreduce)
    : config_(std::move(config)), group_(group), allreduce_(std::move(allreduce)) {
  const int n = int(config_.hidden.size()) + 1;
  const int p = group_.size(), r = group_.rank();
  std::size_t at = 0;
  for (int l = 0; l < n; ++l) {
    Layer layer;
    if (l == n - 1 && n % 2 == 1) {
      layer.shard = dtlab::column_shard(config_, l, 1, 0);
      layer.replicated = true;
    } else {
      layer.shard = l % 2 == 0 ? dtlab::column_shard(config_, l, p, r) : dtlab::row_shard(config_, l, p, r);
    }
    // Every tensor starts on 64 bytes, as the whole Mlp's buffers do.
    constexpr std::size_t kAlign = 64 / sizeof(float);
    const auto align = [](std::size_t i) { return (i + kAlign - 1) / kAlign * kAlign; };
    layer.weight = align(at);
    layer.bias = align(layer.weight + layer.shard.weight_size());
    at = layer.bias + layer.shard.bias_size();
    layers_.push_back(layer);
  }
  params_.assign(at, 0.0f);
  grads_.assign(at, 0.0f);
}

TensorParallelMlp::~TensorParallelMlp() = default;

namespace {

// Calls fn(row of the whole layer's weight, row of the block) for every row of a shard's block.
template <class F>
void for_each_block_row(const dtlab::LinearShard& shard, int in, F&& fn) {
  for (int o = shard.out.begin; o < shard.out.end; ++o)
    fn(std::size_t(o) * in + shard.in.begin, std::size_t(o - shard.out.begin) * shard.in.size());
}

}  // namespace

void TensorParallelMlp::load(const dtlab::Mlp& whole) {
  if (whole.config().describe() != config_.describe())
    throw dtlab::Error(fmt::format("TensorParallelMlp::load: the model is {}, not {}",
                                   whole.config().describe(), config_.describe()));
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    const dtlab::LayerSlice& s = whole.layers()[l];
    const float* w = whole.params().data() + s.weight;
    for_each_block_row(L.shard, s.in, [&](std::size_t from, std::size_t to) {
      std::copy_n(w + from, L.shard.in.size(), params_.data() + L.weight + to);
    });
    std::copy_n(whole.params().data() + s.bias + L.shard.out.begin, L.shard.bias_size(),
                params_.data() + L.bias);
  }
}

void TensorParallelMlp::gather(dtlab::Mlp& whole) const {
  if (whole.config().describe() != config_.describe())
    throw dtlab::Error(fmt::format("TensorParallelMlp::gather: the model is {}, not {}",
                                   whole.config().describe(), config_.describe()));
  const int p = group_.size();
  std::vector<float> blocks;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const Layer& L = layers_[l];
    const dtlab::LayerSlice& s = whole.layers()[l];
    float* w = whole.params().data() + s.weight;
    float* b = whole.params().data() + s.bias;
    const std::span<const float> mine(params_.data() + L.weight, L.shard.weight_size());
    if (L.replicated) {
      std::copy(mine.begin(), mine.end(), w);
      std::copy_n(params_.data() + L.bias, s.out, b);
      continue;
    }
    // Every rank's block has the same shape: gather them all, then put each in its place.
    blocks.resize(mine.size() * std::size_t(p));
    dtlab::baseline::allgather(group_, mine, std::span<float>(blocks));
    for (int k = 0; k < p; ++k) {
      const dtlab::LinearShard shard = L.shard.kind == dtlab::ShardKind::column
                                           ? dtlab::column_shard(config_, int(l), p, k)
                                           : dtlab::row_shard(config_, int(l), p, k);
      const float* from = blocks.data() + std::size_t(k) * mine.size();
      for_each_block_row(shard, s.in, [&](std::size_t whole_at, std::size_t block_at) {
        std::copy_n(from + block_at, shard.in.size(), w + whole_at);
      });
    }
    if (L.shard.kind == dtlab::ShardKind::column) {
      std::vector<float> bias(std::size_t(s.out));
      dtlab::baseline::allgather(group_, std::span<const float>(params_.data() + L.bias, L.shard.out.size()),
                                 std::span<float>(bias));
      std::copy(bias.begin(), bias.end(), b);
    } else {  // only rank 0 holds a row-parallel layer's bias
      if (group_.rank() == 0) std::copy_n(params_.data() + L.bias, s.out, b);
      dtlab::baseline::broadcast(group_, std::span<float>(b, std::size_t(s.out)), 0);
    }
  }
}

// ---- schedules ----

std::string to_string(const Action& a) {
  static constexpr const char* names[] = {"recvF", "F", "sendF", "recvB", "B", "sendB"};
  std::string s = fmt::format("{}{}", names[int(a.op)], a.micro);
  if (a.chunk != 0) s += fmt::format(".{}", a.chunk);
  return s;
}

namespace {

bool is_recv(Op op) { return op == Op::recv_forward || op == Op::recv_backward; }
bool is_send(Op op) { return op == Op::send_forward || op == Op::send_backward; }

// The message an action sends or receives: (backward?, micro-batch, link), where link s joins
// virtual stages s and s + 1.
using Message = std::tuple<bool, int, int>;
Message message_of(const Action& a, int rank, int stages) {
  const int s = a.chunk * stages + rank;
  switch (a.op) {
    case Op::send_forward: return {false, a.micro, s};
    case Op::recv_forward: return {false, a.micro, s - 1};
    case Op::send_backward: return {true, a.micro, s - 1};
    default: return {true, a.micro, s};  // recv_backward
  }
}

}  // namespace

ScheduleRun dry_run(const Schedule& schedule, int p, int m, int v) {
  ScheduleRun run;
  if (p < 1 || m < 1 || v < 1) {
    run.problem = fmt::format("stages {}, micro-batches {} and chunks {} must all be at least 1", p, m, v);
    return run;
  }
  if (int(schedule.size()) != p) {
    run.problem = fmt::format("the schedule has actions for {} ranks, not {}", schedule.size(), p);
    return run;
  }
  const int last = p * v - 1;
  // Each rank's own list: the actions each (micro, chunk) needs, once each, in a valid order.
  for (int r = 0; r < p && run.problem.empty(); ++r) {
    std::map<std::pair<int, int>, std::vector<Op>> seen;  // (micro, chunk) -> its actions, in order
    for (const Action& a : schedule[std::size_t(r)]) {
      if (a.micro < 0 || a.micro >= m || a.chunk < 0 || a.chunk >= v) {
        run.problem = fmt::format("rank {}: {} is outside micro-batches 0..{} and chunks 0..{}", r,
                                  to_string(a), m - 1, v - 1);
        break;
      }
      seen[{a.micro, a.chunk}].push_back(a.op);
    }
    for (int i = 0; i < m && run.problem.empty(); ++i)
      for (int c = 0; c < v && run.problem.empty(); ++c) {
        const int s = c * p + r;
        std::vector<Op> want;
        if (s > 0) want.push_back(Op::recv_forward);
        want.push_back(Op::forward);
        if (s < last) want.push_back(Op::send_forward);
        const std::size_t forward_part = want.size();
        if (s < last) want.push_back(Op::recv_backward);
        want.push_back(Op::backward);
        if (s > 0) want.push_back(Op::send_backward);
        // The forward's actions in order, then the backward's; a backward's receive may come
        // before the forward's send (the executor keeps what it received), but not before the forward.
        std::vector<Op> got = seen[{i, c}];
        auto by_op = [](Op a, Op b) { return int(a) < int(b); };
        std::vector<Op> sorted_got = got, sorted_want = want;
        std::sort(sorted_got.begin(), sorted_got.end(), by_op);
        std::sort(sorted_want.begin(), sorted_want.end(), by_op);
        const auto name = [&](Op op) { return to_string({op, i, c}); };
        std::string list;
        for (Op op : got) list += (list.empty() ? "" : " ") + name(op);
        if (sorted_got != sorted_want) {
          std::string need;
          for (Op op : want) need += (need.empty() ? "" : " ") + name(op);
          run.problem = fmt::format("rank {} (virtual stage {}): micro-batch {} chunk {} needs exactly [{}], has [{}]",
                                    r, s, i, c, need, list);
        } else {
          const auto pos = [&](Op op) { return std::find(got.begin(), got.end(), op) - got.begin(); };
          for (std::size_t k = 0; k + 1 < want.size(); ++k) {
            const Op a = want[k], b = want[k + 1];
            const bool may_swap = k + 1 == forward_part && a == Op::send_forward && b == Op::recv_backward;
            if (pos(a) > pos(b) && !may_swap)
              run.problem = fmt::format("rank {} (virtual stage {}): {} must come before {}; its order is [{}]",
                                        r, s, name(a), name(b), list);
          }
          if (s < last && pos(Op::recv_backward) < pos(Op::forward))
            run.problem = fmt::format("rank {}: {} comes before {}", r, name(Op::recv_backward), name(Op::forward));
        }
      }
  }
  if (!run.problem.empty()) return run;

  // The run in unit time. A rank runs on until it reaches a receive whose message is not sent yet.
  std::map<Message, int> sent;  // message -> time it was sent
  std::vector<std::size_t> at(std::size_t(p), 0);
  std::vector<int> clock(std::size_t(p), 0), live(std::size_t(p), 0);
  run.peak_activations.assign(std::size_t(p), 0);
  run.slots.resize(std::size_t(p));
  for (bool moved = true; moved;) {
    moved = false;
    for (int r = 0; r < p; ++r) {
      const auto& mine = schedule[std::size_t(r)];
      for (std::size_t& k = at[std::size_t(r)]; k < mine.size(); ++k) {
        const Action& a = mine[k];
        int& t = clock[std::size_t(r)];
        if (is_recv(a.op)) {
          const auto it = sent.find(message_of(a, r, p));
          if (it == sent.end()) break;
          t = std::max(t, it->second);
        } else if (is_send(a.op)) {
          sent[message_of(a, r, p)] = t;
        } else {
          run.slots[std::size_t(r)].push_back({a, t});
          t += 1;
          int& n = live[std::size_t(r)];
          n += a.op == Op::forward ? 1 : -1;
          run.peak_activations[std::size_t(r)] = std::max(run.peak_activations[std::size_t(r)], n);
        }
        moved = true;
      }
    }
  }
  std::string stuck;
  for (int r = 0; r < p; ++r)
    if (at[std::size_t(r)] < schedule[std::size_t(r)].size())
      stuck += fmt::format("{}rank {} waits at {}", stuck.empty() ? "" : ", ", r,
                           to_string(schedule[std::size_t(r)][at[std::size_t(r)]]));
  if (!stuck.empty()) {
    run.problem = "deadlock: " + stuck + " (each waits for a message that is never sent)";
    return run;
  }
  run.makespan = *std::max_element(clock.begin(), clock.end());
  return run;
}

// ---- the executor's layout ----

std::vector<dtlab::Block> partition_layers(const dtlab::MlpConfig& config, int stages) {
  const dtlab::Mlp shape(config);
  const auto& L = shape.layers();
  const int n = int(L.size());
  if (stages < 1 || stages > n)
    throw dtlab::Error(fmt::format("MLP {} has {} layers: it cannot be cut into {} pipeline stages "
                                   "(at most one stage per layer; use a deeper model, e.g. --hidden "
                                   "1024,1024,1024,1024)",
                                   config.describe(), n, stages));
  // cost[i][j]: parameters of layers [i, j); best[k][j]: the smallest largest stage when layers
  // [0, j) form k stages, and cut[k][j] where its last stage starts.
  const auto cost = [&](int i, int j) { return double(L[std::size_t(j - 1)].end() - L[std::size_t(i)].begin()); };
  constexpr double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> best(std::size_t(stages) + 1, std::vector<double>(std::size_t(n) + 1, inf));
  std::vector<std::vector<int>> cut(std::size_t(stages) + 1, std::vector<int>(std::size_t(n) + 1, 0));
  best[0][0] = 0;
  for (int k = 1; k <= stages; ++k)
    for (int j = k; j <= n; ++j)
      for (int i = k - 1; i < j; ++i) {
        const double b = std::max(best[std::size_t(k - 1)][std::size_t(i)], cost(i, j));
        if (b < best[std::size_t(k)][std::size_t(j)]) {
          best[std::size_t(k)][std::size_t(j)] = b;
          cut[std::size_t(k)][std::size_t(j)] = i;
        }
      }
  std::vector<dtlab::Block> blocks(static_cast<std::size_t>(stages));
  for (int k = stages, j = n; k >= 1; --k) {
    const int i = cut[std::size_t(k)][std::size_t(j)];
    blocks[std::size_t(k - 1)] = {i, j};
    j = i;
  }
  return blocks;
}

int Pipeline::message_tag(const Action& a) const {
  const auto [backward, micro, link] = message_of(a, group_.rank(), group_.size());
  return (micro * virtual_stages() + link) * 2 + (backward ? 1 : 0);
}

Pipeline::Pipeline(dtlab::MlpConfig config, const Comm& group, int chunks, dtlab::OptimizerConfig optimizer)
    : config_(std::move(config)), group_(group) {
  if (chunks < 1) throw dtlab::Error(fmt::format("a pipeline needs at least 1 chunk per rank, got {}", chunks));
  const auto blocks = partition_layers(config_, group_.size() * chunks);
  for (int c = 0; c < chunks; ++c) {
    const dtlab::Block b = blocks[std::size_t(c * group_.size() + group_.rank())];
    stages_.emplace_back(config_, b.begin, b.end);
    optimizers_.push_back(dtlab::make_optimizer(optimizer, stages_.back().num_params()));
  }
}

Pipeline::~Pipeline() = default;

void Pipeline::init(std::uint64_t seed) {
  for (auto& s : stages_) s.init(seed);
}

namespace {

// Where a stage's parameters sit in the whole model's buffer.
std::span<const float> in_whole(const dtlab::Mlp& whole, const dtlab::MlpStage& s) {
  const auto& L = whole.layers();
  return whole.params().subspan(L[std::size_t(s.first())].begin(),
                                L[std::size_t(s.last() - 1)].end() - L[std::size_t(s.first())].begin());
}

}  // namespace

void Pipeline::load(const dtlab::Mlp& whole) {
  if (whole.config().describe() != config_.describe())
    throw dtlab::Error(fmt::format("Pipeline::load: the model is {}, not {}", whole.config().describe(),
                                   config_.describe()));
  for (auto& s : stages_) {
    const auto from = in_whole(whole, s);
    std::copy(from.begin(), from.end(), s.params().begin());
  }
}

void Pipeline::gather(dtlab::Mlp& whole) const {
  if (whole.config().describe() != config_.describe())
    throw dtlab::Error(fmt::format("Pipeline::gather: the model is {}, not {}", whole.config().describe(),
                                   config_.describe()));
  const auto blocks = partition_layers(config_, virtual_stages());
  const dtlab::Mlp& shape = whole;
  for (int v = 0; v < virtual_stages(); ++v) {
    const int owner = v % group_.size(), chunk = v / group_.size();
    const dtlab::MlpStage probe(config_, blocks[std::size_t(v)].begin, blocks[std::size_t(v)].end);
    const auto slot = in_whole(shape, probe);
    const std::span<float> into(whole.params().data() + (slot.data() - shape.params().data()), slot.size());
    if (owner == group_.rank()) {
      const auto mine = stage(chunk).params();
      std::copy(mine.begin(), mine.end(), into.begin());
    }
    dtlab::baseline::broadcast(group_, into, owner);
  }
}

// ---- data x pipeline ----

Grid make_grid(const Comm& world, int stages) {
  if (stages < 1 || world.size() % stages != 0)
    throw dtlab::Error(fmt::format("{} ranks do not form pipelines of {} stages", world.size(), stages));
  const int r = world.rank();
  return {world.split(r / stages, r % stages), world.split(r % stages, r / stages)};
}

}  // namespace lab03
