// Lab 04 reference: a range-partitioned parameter server with BSP, SSP(s) and ASP.
#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <limits>
#include <map>

#include "dtlab/error.hpp"
#include "lab04/parameter_server.hpp"

namespace lab04 {

namespace {

// The messages, told apart by tag. A pull request is empty: the server knows the worker's clock,
// since MPI delivers one sender's messages in order (its pushes so far are its clock).
enum Tag : int { kPull = 1, kPush = 2, kDone = 3, kReply = 4 };

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

// A message on its way out, with the buffer it is sent from.
struct Outgoing {
  std::vector<float> data;
  std::vector<dtlab::Request> requests;
};

// Completes the oldest messages until at most `keep` are in flight: a cap on memory, where waiting
// for each one at once would serialise the sends.
void drain(const Comm& comm, std::deque<Outgoing>& out, std::size_t keep) {
  for (; out.size() > keep; out.pop_front()) comm.wait_all(out.front().requests);
}

}  // namespace

KeyRange key_range(std::size_t n, int servers, int s) {
  if (servers < 1 || s < 0 || s >= servers)
    throw dtlab::Error(fmt::format("key_range: server {} of {} does not exist", s, servers));
  const std::size_t q = n / std::size_t(servers), r = n % std::size_t(servers), i = std::size_t(s);
  const std::size_t begin = i * q + std::min(i, r);
  return {begin, begin + q + (i < r ? 1 : 0)};
}

// ---- the server ----

struct Server::State {
  explicit State(int workers)
      : pushed(std::size_t(workers)), finished(std::size_t(workers)), dead(std::size_t(workers)),
        heard(std::size_t(workers), dtlab::steady_seconds()) {}
  std::vector<std::int64_t> pushed;  // per worker: pushes received, its clock as far as we know
  std::vector<char> finished, dead;
  std::vector<double> heard;         // when each worker last sent anything
  struct Merge {
    std::vector<float> sum;
    int count = 0;
  };
  std::map<std::int64_t, Merge> merges;  // BSP, SSP: the clocks not applied yet
  std::int64_t merged = 0;               // BSP, SSP: clocks applied
  std::deque<PullRecord> deferred;       // pulls held back by the staleness bound
  std::vector<float> inbox;
  std::deque<Outgoing> replies;
  ServerReport report;

  bool gone(std::size_t w) const { return finished[w] || dead[w]; }
  // Every worker's clocks 0..version-1 are in the parameters.
  std::int64_t version(bool async) const {
    if (!async) return merged;
    std::int64_t v = kNever;
    for (std::size_t w = 0; w < pushed.size(); ++w)
      if (!gone(w)) v = std::min(v, pushed[w]);
    return v;
  }
};

ServerReport Server::run() {
  const bool async = config_.staleness == kAsync;
  const auto W = std::size_t(roles_.workers);
  state_ = std::make_shared<State>(roles_.workers);
  State& s = *state_;
  s.inbox.resize(range_.size());

  const auto reply = [&](const PullRecord& p) {
    Outgoing& out = s.replies.emplace_back();
    out.data = params_;  // a copy: the parameters change while the message is on its way
    out.requests.push_back(comm_.isend(std::span<const float>(out.data), roles_.worker_rank(p.worker), kReply));
    s.report.pulls.push_back({p.worker, p.clock, s.version(async)});
    s.heard[std::size_t(p.worker)] = dtlab::steady_seconds();  // its silence starts when it has its answer
    drain(comm_, s.replies, 2 * W);
  };
  const auto may_read = [&](const PullRecord& p) {
    return async || s.version(false) >= p.clock - config_.staleness;
  };
  // BSP, SSP: apply each clock once every worker still working has pushed it, in clock order.
  const auto apply_complete_clocks = [&] {
    for (auto it = s.merges.begin(); it != s.merges.end() && it->first == s.merged; it = s.merges.erase(it)) {
      for (std::size_t w = 0; w < W; ++w)
        if (!s.gone(w) && s.pushed[w] <= s.merged) return;
      optimizer_->step(params_, it->second.sum, config_.lr(s.merged), 1.0f / float(it->second.count));
      ++s.merged;
      ++s.report.updates;
    }
  };
  const auto serve_deferred = [&] {
    std::erase_if(s.deferred, [&](const PullRecord& p) { return may_read(p) ? (reply(p), true) : false; });
  };
  const auto everyone_gone = [&] {
    for (std::size_t w = 0; w < W; ++w)
      if (!s.gone(w)) return false;
    return true;
  };

  while (!everyone_gone()) {
    const std::optional<dtlab::Status> got = comm_.probe(dtlab::any_source, dtlab::any_tag, config_.timeout / 4);
    const double now = dtlab::steady_seconds();
    if (got) {
      const auto w = std::size_t(roles_.worker_of(got->source));
      const auto data = std::span<float>(s.inbox).first(got->bytes / sizeof(float));
      comm_.recv(data, got->source, got->tag);
      s.heard[w] = now;
      if (got->tag == kPush && !s.dead[w]) {
        if (data.size() != range_.size())
          throw dtlab::Error(fmt::format("server {}: worker {} pushed {} keys, expected {}", comm_.rank(), w,
                                         data.size(), range_.size()));
        const std::int64_t c = s.pushed[w]++;
        ++s.report.pushes;
        if (async) {
          optimizer_->step(params_, data, config_.lr(c), 1.0f / float(W));
          ++s.report.updates;
        } else {
          State::Merge& m = s.merges[c];
          if (m.count++ == 0) m.sum.assign(data.begin(), data.end());
          else
            for (std::size_t i = 0; i < data.size(); ++i) m.sum[i] += data[i];
        }
      } else if (got->tag == kPull) {
        const PullRecord p{int(w), s.pushed[w], 0};
        if (may_read(p) || s.dead[w]) reply(p);
        else s.deferred.push_back(p);
      } else if (got->tag == kDone) {
        s.finished[w] = 1;
      }
    }
    // A worker that has said nothing for `timeout` seconds since it last spoke or was answered,
    // while no pull of its own is held here (it would be waiting for us, not dead), is dead.
    for (std::size_t w = 0; w < W; ++w) {
      const bool waiting = std::any_of(s.deferred.begin(), s.deferred.end(),
                                       [&](const PullRecord& p) { return p.worker == int(w); });
      if (!s.gone(w) && !waiting && now - s.heard[w] > config_.timeout) {
        s.dead[w] = 1;
        s.report.dead.push_back(int(w));
        fmt::print(stderr, "server {}: worker {} has been silent for {:.1f} s: taken for dead, going on without it\n",
                   comm_.rank(), w, now - s.heard[w]);
      }
    }
    if (!async) apply_complete_clocks();
    serve_deferred();
  }
  drain(comm_, s.replies, 0);
  return s.report;
}

// ---- the worker ----

struct Worker::State {
  State(std::size_t n, int servers) {
    for (int s = 0; s < servers; ++s) ranges.push_back(key_range(n, servers, s));
  }
  std::vector<KeyRange> ranges;  // server s's keys
  std::deque<Outgoing> pushes;   // pushes still on their way
};

void Worker::pull(std::span<float> params) {
  if (params.size() != n_) throw dtlab::Error(fmt::format("pull: {} floats given, expected {}", params.size(), n_));
  if (!state_) state_ = std::make_shared<State>(n_, roles_.servers);
  // Every reply's receive is posted before any request leaves, then all complete together.
  std::vector<dtlab::Request> requests;
  for (int s = 0; s < roles_.servers; ++s) {
    const KeyRange r = state_->ranges[std::size_t(s)];
    requests.push_back(comm_.irecv(params.subspan(r.begin, r.size()), roles_.server_rank(s), kReply));
  }
  for (int s = 0; s < roles_.servers; ++s)
    requests.push_back(comm_.isend(std::span<const float>(), roles_.server_rank(s), kPull));
  comm_.wait_all(requests);
}

void Worker::push(std::span<const float> grads) {
  if (grads.size() != n_) throw dtlab::Error(fmt::format("push: {} floats given, expected {}", grads.size(), n_));
  if (!state_) state_ = std::make_shared<State>(n_, roles_.servers);
  Outgoing& out = state_->pushes.emplace_back();
  out.data.assign(grads.begin(), grads.end());
  for (int s = 0; s < roles_.servers; ++s) {
    const KeyRange r = state_->ranges[std::size_t(s)];
    out.requests.push_back(comm_.isend(std::span<const float>(out.data).subspan(r.begin, r.size()),
                                       roles_.server_rank(s), kPush));
  }
  ++clock_;
  drain(comm_, state_->pushes, 8);
}

void Worker::finish() {
  std::vector<dtlab::Request> done;
  for (int s = 0; s < roles_.servers; ++s) done.push_back(comm_.isend(std::span<const float>(), roles_.server_rank(s), kDone));
  comm_.wait_all(done);
  if (state_) drain(comm_, state_->pushes, 0);
}

}  // namespace lab04
