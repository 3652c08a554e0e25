// Lab 03 reference, Parts 2 to 4: pipeline schedules as data, the one executor that runs any of
// them, and data x pipeline parallelism.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <utility>

#include "dtlab/error.hpp"
#include "lab03/model_parallel.hpp"

namespace lab03 {

namespace {

void check_shape(const char* schedule, int p, int m, int v = 1) {
  if (p < 1 || m < 1 || v < 1)
    throw dtlab::Error(fmt::format("{}: stages ({}), micro-batches ({}) and chunks ({}) must be at least 1",
                                   schedule, p, m, v));
}

// Rank r's actions for the forward of micro-batch i through chunk c: the receive it needs from the
// previous virtual stage, the forward, and the send the next virtual stage needs.
void add_forward(std::vector<Action>& list, int r, int p, int v, int i, int c) {
  const int s = c * p + r;
  if (s > 0) list.push_back({Op::recv_forward, i, c});
  list.push_back({Op::forward, i, c});
  if (s < p * v - 1) list.push_back({Op::send_forward, i, c});
}

void add_backward(std::vector<Action>& list, int r, int p, int v, int i, int c) {
  const int s = c * p + r;
  if (s < p * v - 1) list.push_back({Op::recv_backward, i, c});
  list.push_back({Op::backward, i, c});
  if (s > 0) list.push_back({Op::send_backward, i, c});
}

}  // namespace

Schedule gpipe(int p, int m) {
  check_shape("gpipe", p, m);
  Schedule schedule(static_cast<std::size_t>(p));
  for (int r = 0; r < p; ++r) {
    auto& list = schedule[std::size_t(r)];
    for (int i = 0; i < m; ++i) add_forward(list, r, p, 1, i, 0);
    for (int i = 0; i < m; ++i) add_backward(list, r, p, 1, i, 0);
  }
  return schedule;
}

Schedule one_f_one_b(int p, int m) {
  check_shape("one_f_one_b", p, m);
  Schedule schedule(static_cast<std::size_t>(p));
  for (int r = 0; r < p; ++r) {
    auto& list = schedule[std::size_t(r)];
    // Enough forwards in flight that the last stage's first backward reaches rank r just as its
    // warm-up ends; from then on each backward frees the activations the next forward takes.
    const int warmup = std::min(p - r - 1, m);
    for (int i = 0; i < warmup; ++i) add_forward(list, r, p, 1, i, 0);
    for (int i = 0; i < m - warmup; ++i) {
      add_forward(list, r, p, 1, warmup + i, 0);
      add_backward(list, r, p, 1, i, 0);
    }
    for (int i = m - warmup; i < m; ++i) add_backward(list, r, p, 1, i, 0);
  }
  return schedule;
}

Schedule interleaved_1f1b(int p, int m, int v) {
  check_shape("interleaved_1f1b", p, m, v);
  if (m % p != 0)
    throw dtlab::Error(fmt::format("interleaved_1f1b: the micro-batches ({}) must be a multiple of the "
                                   "stages ({}), as Megatron-LM requires: micro-batches go through the "
                                   "chunks in groups of p",
                                   m, p));
  const int total = m * v;  // forwards (and backwards) per rank: every micro-batch through every chunk
  // Megatron-LM's order: the k-th forward of a rank is micro-batch (k / pv) * p + k % p through
  // chunk (k % pv) / p; backwards go through the chunks in reverse.
  const auto micro = [p, v](int k) { return k / (p * v) * p + k % p; };
  const auto chunk = [p, v](int k, bool forward) {
    const int c = k % (p * v) / p;
    return forward ? c : v - 1 - c;
  };
  Schedule schedule(static_cast<std::size_t>(p));
  for (int r = 0; r < p; ++r) {
    auto& list = schedule[std::size_t(r)];
    // Warm-up: rank r's first backward needs the micro-batch to have gone through all pv virtual
    // stages and back to it. With m == p no steady state fits: all forwards, then all backwards.
    const int warmup = m == p ? total : std::min((p - r - 1) * 2 + (v - 1) * p, total);
    for (int k = 0; k < warmup; ++k) add_forward(list, r, p, v, micro(k), chunk(k, true));
    for (int k = 0; k < total - warmup; ++k) {
      add_forward(list, r, p, v, micro(warmup + k), chunk(warmup + k, true));
      add_backward(list, r, p, v, micro(k), chunk(k, false));
    }
    for (int k = total - warmup; k < total; ++k) add_backward(list, r, p, v, micro(k), chunk(k, false));
  }
  return schedule;
}

// What run keeps between actions, by (micro-batch, chunk): activations and gradients received and
// not yet used, what this rank sends (its own copies: MPI may read them until the sends complete,
// after the stage has moved on), and the pending sends.
struct Pipeline::State {
  using Key = std::pair<int, int>;
  std::map<Key, dtlab::AlignedVector<float>> received_activations, received_grads;
  std::map<Key, std::span<const float>> outputs, dlogits;
  std::map<Key, dtlab::AlignedVector<float>> to_send_forward, to_send_backward;
  std::vector<dtlab::Request> sends;
};

float Pipeline::run(std::span<const Action> actions, int m, std::span<const float> x,
                    std::span<const std::int32_t> labels) {
  const int p = group_.size(), r = group_.rank();
  const std::size_t b = labels.size();
  if (m < 1 || b % std::size_t(m) != 0)
    throw dtlab::Error(fmt::format("Pipeline::run: {} micro-batches cannot split a batch of {} evenly", m, b));
  if (x.size() != b * std::size_t(config_.inputs))
    throw dtlab::Error(fmt::format("Pipeline::run: x has {} values, not {} samples x {} inputs", x.size(), b,
                                   config_.inputs));
  if (!state_) state_ = std::make_shared<State>();
  State& s = *state_;
  const std::size_t mb = b / std::size_t(m);
  const int next = (r + 1) % p, prev = (r + p - 1) % p;
  const int last = virtual_stages() - 1;
  for (auto& st : stages_) st.zero_grads();
  float loss = 0;
  for (const Action& a : actions) {
    dtlab::MlpStage& st = stage(a.chunk);
    const int v = virtual_stage(a.chunk);
    const State::Key key{a.micro, a.chunk};
    const int tag = message_tag(a);
    switch (a.op) {
      case Op::recv_forward: {
        auto& buf = s.received_activations[key];
        buf.resize(mb * std::size_t(st.inputs()));
        group_.recv(std::span<float>(buf), prev, tag);
        break;
      }
      case Op::forward: {
        const auto in = v == 0 ? x.subspan(std::size_t(a.micro) * mb * std::size_t(config_.inputs),
                                           mb * std::size_t(config_.inputs))
                               : std::span<const float>(s.received_activations.at(key));
        s.outputs[key] = st.forward(a.micro, in);  // the stage keeps its own copy of the input
        s.received_activations.erase(key);
        if (v == last) {
          // Scaled by 1/m: the m micro-batches' gradients add up to the batch mean's gradient.
          const auto l = st.loss(a.micro, labels.subspan(std::size_t(a.micro) * mb, mb), 1.0f / float(m));
          s.dlogits[key] = l.dlogits;
          loss += l.value / float(m);
        }
        break;
      }
      case Op::send_forward: {
        const auto out = s.outputs.at(key);
        auto& buf = s.to_send_forward[key];
        buf.assign(out.begin(), out.end());
        s.sends.push_back(group_.isend(std::span<const float>(buf), next, tag));
        break;
      }
      case Op::recv_backward: {
        auto& buf = s.received_grads[key];
        buf.resize(mb * std::size_t(st.outputs()));
        group_.recv(std::span<float>(buf), next, tag);
        break;
      }
      case Op::backward: {
        const auto dy = v == last ? s.dlogits.at(key) : std::span<const float>(s.received_grads.at(key));
        const auto dx = st.backward(a.micro, dy);
        if (v > 0) s.to_send_backward[key].assign(dx.begin(), dx.end());  // dx lasts until the next backward
        s.received_grads.erase(key);
        s.dlogits.erase(key);
        s.outputs.erase(key);
        break;
      }
      case Op::send_backward:
        s.sends.push_back(group_.isend(std::span<const float>(s.to_send_backward.at(key)), prev, tag));
        break;
    }
  }
  group_.wait_all(s.sends);
  s.sends.clear();
  s.to_send_forward.clear();
  s.to_send_backward.clear();
  return loss;
}

void Pipeline::step(double lr, const Comm* data, const AllreduceFn& allreduce) {
  const bool averaged = data != nullptr && data->size() > 1;
  for (int c = 0; c < chunks(); ++c) {
    // Every replica of this chunk computed gradients on its own share of the batch: their mean is
    // the gradient of the whole batch.
    if (averaged) allreduce(*data, stage(c).grads());
    optimizer(c).step(stage(c).params(), stage(c).grads(), lr, averaged ? 1.0f / float(data->size()) : 1.0f);
  }
}

}  // namespace lab03
