#include "dtlab/costmodel.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <map>
#include <optional>
#include <toml++/toml.h>
#include <tuple>
#include <unordered_map>

#include "dtlab/error.hpp"
#include "dtlab/io.hpp"

namespace dtlab {

// ---- the model's parameters ----

CostModel CostModel::load(const std::filesystem::path& path) {
  CostModel m;
  toml::table t;
  try {
    t = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}: not a cost model: {}", path.string(), e.description()));
  }
  auto get = [&](const char* key, double& out) {
    if (auto v = t[key].value<double>()) {
      if (!(*v >= 0) || !std::isfinite(*v))
        throw Error(fmt::format("{}: {} = {} must be a finite number >= 0", path.string(), key, *v));
      out = *v;
    } else if (t.contains(key)) {
      throw Error(fmt::format("{}: {} must be a number", path.string(), key));
    }
  };
  get("alpha", m.alpha);
  get("beta", m.beta);
  get("gamma", m.gamma);
  get("flop_rate", m.flop_rate);
  if (m.flop_rate <= 0) throw Error(fmt::format("{}: flop_rate must be > 0", path.string()));
  return m;
}

void CostModel::save(const std::filesystem::path& path) const {
  write_file_atomic(path, fmt::format("# dtlab alpha-beta-gamma cost model (docs/cost-model.md)\n"
                                      "alpha = {:.6e}      # seconds per message\n"
                                      "beta = {:.6e}       # seconds per byte sent\n"
                                      "gamma = {:.6e}      # seconds per byte reduced\n"
                                      "flop_rate = {:.6e}  # flop/s of marked compute\n",
                                      alpha, beta, gamma, flop_rate));
}

std::string CostModel::describe() const {
  return fmt::format("alpha={:.3g} us, beta={:.3g} ns/B ({:.3g} GB/s), gamma={:.3g} ns/B, "
                     "flop_rate={:.3g} GFLOP/s",
                     alpha * 1e6, beta * 1e9, beta > 0 ? 1e-9 / beta : INFINITY, gamma * 1e9,
                     flop_rate * 1e-9);
}

// ---- closed forms ----

static double ceil_log2(int p) { return p <= 1 ? 0.0 : std::ceil(std::log2(double(p))); }

double ring_allreduce_cost(int p, double n, const CostModel& m) {
  if (p <= 1) return 0;
  const double f = double(p - 1) / p;
  return 2 * (p - 1) * m.alpha + 2 * f * n * m.beta + f * n * m.gamma;
}

double recursive_doubling_allreduce_cost(int p, double n, const CostModel& m) {
  return ceil_log2(p) * (m.alpha + n * m.beta + n * m.gamma);
}

double collective_cost(std::string_view name, int p, double n, const CostModel& m) {
  if (p <= 1) return 0;
  const double L = ceil_log2(p);
  const double f = double(p - 1) / p;
  if (name == "allreduce")
    return std::min(recursive_doubling_allreduce_cost(p, n, m), ring_allreduce_cost(p, n, m));
  if (name == "broadcast") return L * (m.alpha + n * m.beta);              // binomial tree
  if (name == "reduce") return L * (m.alpha + n * (m.beta + m.gamma));    // binomial tree
  if (name == "allgather") return L * m.alpha + f * n * m.beta;           // Bruck
  if (name == "reduce_scatter") return L * m.alpha + f * n * (m.beta + m.gamma);  // halving
  return L * m.alpha;  // barrier, split and anything else that carries no payload
}

// ---- replay ----

namespace {

struct Send {
  int src, dst;
  std::uint64_t comm;
  int tag;
  std::uint64_t bytes;
  double post;
  std::size_t op;
  std::int64_t recv = -1;  // index into recvs once matched
  bool committed = false;
  double start = 0, end = 0;
};

struct Recv {
  int rank;
  std::size_t op;
  double post;
  std::int64_t send = -1;  // index into sends once matched
};

struct Coll {
  std::string_view name;
  int members = 0;
  int arrived = 0;
  double last_arrival = 0;
  double bytes = 0;
  bool done = false;
  double end = 0;
};

// What a blocked lane waits for.
struct Ref {
  enum Kind : std::uint8_t { send, recv, coll, job_posted, job_done } kind;
  std::size_t index;
};

// A job handed to a communication worker: posted on one lane, run on another.
struct Job {
  bool posted = false, done = false;
  double post = 0, end = 0;
};

// One thread of one rank: a sequential program over its ops.
struct Lane {
  int rank = 0;
  std::uint8_t id = 0;
  std::vector<std::size_t> ops;  // indices into the rank's log, in order
  std::size_t pos = 0;           // the next of them
  double clock = 0;
  bool issued = false;
  double issue_time = 0;
  std::vector<Ref> blockers;
  bool done() const { return pos >= ops.size(); }
};

// What the lanes of one rank share.
struct RankState {
  std::unordered_map<std::int64_t, Ref> requests;   // pending non-blocking operations by id
  std::map<std::uint64_t, std::size_t> collectives;  // per communicator: how many seen so far
  std::map<std::int64_t, std::size_t> jobs;          // job id -> index into Engine::jobs_
};

using Key = std::tuple<std::uint64_t, int, int, int>;  // comm, src, dst, tag

class Engine {
 public:
  Engine(std::span<const RankLog> logs, const CostModel& m)
      : logs_(logs), m_(m), ranks_(logs.size()) {
    for (std::size_t r = 0; r < logs.size(); ++r) {
      if (logs[r].rank != int(r) || logs[r].world_size != int(logs.size()))
        throw Error(fmt::format("replay: log {} is rank {} of {}; expected rank {} of {}", r,
                                logs[r].rank, logs[r].world_size, r, logs.size()));
      out_.op_times.emplace_back(logs[r].ops.size());
      std::map<std::uint8_t, std::size_t> lane_of;
      for (std::size_t i = 0; i < logs[r].ops.size(); ++i) {
        const std::uint8_t id = logs[r].ops[i].lane;
        auto [it, fresh] = lane_of.emplace(id, lanes_.size());
        if (fresh) lanes_.push_back(Lane{.rank = int(r), .id = id, .ops = {}, .blockers = {}});
        lanes_[it->second].ops.push_back(i);
      }
    }
    out_free_.assign(logs.size(), 0.0);
    in_free_.assign(logs.size(), 0.0);
  }

  Replay run() {
    for (;;) {
      bool progress = true;
      while (progress) {
        progress = false;
        for (auto& lane : lanes_) progress |= advance(lane);
      }
      if (all_done()) break;
      if (!commit_next()) throw stuck();
    }
    while (commit_next()) {
    }
    out_.finish.assign(logs_.size(), 0.0);
    for (const auto& lane : lanes_) {
      out_.finish[lane.rank] = std::max(out_.finish[lane.rank], lane.clock);
      out_.makespan = std::max(out_.makespan, lane.clock);
    }
    for (const auto& s : sends_)
      out_.messages.push_back({s.src, s.dst, s.op,
                               s.recv < 0 ? -1 : std::int64_t(recvs_[s.recv].op), s.bytes,
                               s.start, s.end});
    return std::move(out_);
  }

 private:
  bool all_done() const {
    for (const auto& lane : lanes_)
      if (!lane.done()) return false;
    return true;
  }

  // Runs a lane until it blocks or ends; true if it got anywhere.
  bool advance(Lane& s) {
    const auto& ops = logs_[s.rank].ops;
    bool progress = false;
    while (!s.done()) {
      const std::size_t i = s.ops[s.pos];
      if (!s.issued) {
        s.issued = true;
        s.issue_time = s.clock;
        issue(s, i, ops[i]);
        progress = true;
      }
      double t = s.clock;
      for (const Ref& b : s.blockers) {
        const std::optional<double> done = completion(b);
        if (!done) return progress;
        t = std::max(t, *done);
      }
      s.clock = t;
      out_.op_times[s.rank][i] = {s.issue_time, t};
      s.blockers.clear();
      s.issued = false;
      ++s.pos;
      progress = true;
    }
    return progress;
  }

  Job& job(int r, std::int64_t id, std::size_t* index = nullptr) {
    auto [it, fresh] = ranks_[r].jobs.emplace(id, jobs_.size());
    if (fresh) jobs_.emplace_back();
    if (index) *index = it->second;
    return jobs_[it->second];
  }

  void issue(Lane& lane, std::size_t i, const Op& op) {
    const int r = lane.rank;
    auto& s = ranks_[r];
    auto& blockers = lane.blockers;
    switch (op.kind) {
      case OpKind::compute:
        lane.clock += double(op.reduce_bytes) * m_.gamma + op.flops / m_.flop_rate;
        break;
      case OpKind::send: blockers.push_back(post_send(lane, i, op, op.peer, op.tag, op.bytes)); break;
      case OpKind::recv: blockers.push_back(post_recv(lane, i, op, op.peer, op.tag)); break;
      case OpKind::sendrecv:
        blockers.push_back(post_send(lane, i, op, op.peer, op.tag, op.bytes));
        blockers.push_back(post_recv(lane, i, op, op.recv_peer, op.recv_tag));
        break;
      case OpKind::isend: s.requests[op.request] = post_send(lane, i, op, op.peer, op.tag, op.bytes); break;
      case OpKind::irecv:
        // peer -1: the wait never completed in the real run, so nothing can be matched to it.
        if (op.peer >= 0) s.requests[op.request] = post_recv(lane, i, op, op.peer, op.tag);
        break;
      case OpKind::wait: {
        const auto& ids = logs_[r].wait_ids;
        if (op.request < 0 || std::size_t(op.request) + op.nwait > ids.size())
          throw Error(fmt::format("replay: rank {} op {} waits on requests outside its table", r, i));
        for (std::uint32_t k = 0; k < op.nwait; ++k) {
          const auto it = s.requests.find(ids[op.request + k]);
          if (it == s.requests.end())
            throw Error(fmt::format("replay: rank {} op {} waits on request {}, which its log "
                                    "never started",
                                    r, i, ids[op.request + k]));
          blockers.push_back(it->second);
          s.requests.erase(it);
        }
        break;
      }
      case OpKind::collective: {
        const Ref c = arrive(lane, op);
        if (op.request >= 0) s.requests[op.request] = c;
        else blockers.push_back(c);
        break;
      }
      case OpKind::job_post: {
        std::size_t index = 0;
        Job& j = job(r, op.request, &index);
        j.posted = true;
        j.post = lane.clock;
        s.requests[op.request] = {Ref::job_done, index};
        break;
      }
      case OpKind::job_begin: {
        std::size_t index = 0;
        job(r, op.request, &index);
        blockers.push_back({Ref::job_posted, index});
        break;
      }
      case OpKind::job_end: {
        Job& j = job(r, op.request);
        j.done = true;
        j.end = lane.clock;
        break;
      }
    }
  }

  Ref post_send(const Lane& lane, std::size_t op_index, const Op& op, int dst, int tag,
                std::uint64_t bytes) {
    const int r = lane.rank;
    check_rank(r, op_index, dst);
    const std::size_t i = sends_.size();
    sends_.push_back({r, dst, op.comm, tag, bytes, lane.clock, op_index});
    auto& waiting = recv_queue_[Key{op.comm, r, dst, tag}];
    if (!waiting.empty()) {
      link(i, waiting.front());
      waiting.pop_front();
    } else {
      send_queue_[Key{op.comm, r, dst, tag}].push_back(i);
    }
    if (dst == r) {  // to itself: a local copy, no link involved
      sends_[i].committed = true;
      sends_[i].start = sends_[i].end = sends_[i].post;
    } else {
      pending_.push_back(i);
    }
    return {Ref::send, i};
  }

  Ref post_recv(const Lane& lane, std::size_t op_index, const Op& op, int src, int tag) {
    const int r = lane.rank;
    check_rank(r, op_index, src);
    const std::size_t i = recvs_.size();
    recvs_.push_back({r, op_index, lane.clock});
    auto& waiting = send_queue_[Key{op.comm, src, r, tag}];
    if (!waiting.empty()) {
      link(waiting.front(), i);
      waiting.pop_front();
    } else {
      recv_queue_[Key{op.comm, src, r, tag}].push_back(i);
    }
    return {Ref::recv, i};
  }

  void link(std::size_t send, std::size_t recv) {
    sends_[send].recv = std::int64_t(recv);
    recvs_[recv].send = std::int64_t(send);
  }

  Ref arrive(const Lane& lane, const Op& op) {
    const int r = lane.rank;
    const CommInfo& info = logs_[r].comm_info(op.comm);
    const std::size_t seq = ranks_[r].collectives[op.comm]++;
    const auto key = std::make_pair(op.comm, seq);
    auto it = coll_index_.find(key);
    if (it == coll_index_.end()) {
      it = coll_index_.emplace(key, colls_.size()).first;
      colls_.push_back({logs_[r].label(op), int(info.world_ranks.size())});
    }
    Coll& c = colls_[it->second];
    if (c.name != logs_[r].label(op))
      throw Error(fmt::format("replay: collective #{} on communicator {} is '{}' on one rank and "
                              "'{}' on rank {}",
                              seq, op.comm, c.name, logs_[r].label(op), r));
    c.arrived += 1;
    c.last_arrival = std::max(c.last_arrival, lane.clock);
    c.bytes = std::max(c.bytes, double(op.bytes));
    if (c.arrived == c.members) {
      c.done = true;
      c.end = c.last_arrival + collective_cost(c.name, c.members, c.bytes, m_);
    }
    return {Ref::coll, it->second};
  }

  std::optional<double> completion(const Ref& b) const {
    switch (b.kind) {
      case Ref::send:
        if (sends_[b.index].committed) return sends_[b.index].end;
        return std::nullopt;
      case Ref::recv: {
        const Recv& rv = recvs_[b.index];
        if (rv.send < 0 || !sends_[rv.send].committed) return std::nullopt;
        return std::max(rv.post, sends_[rv.send].end);
      }
      case Ref::coll:
        if (colls_[b.index].done) return colls_[b.index].end;
        return std::nullopt;
      case Ref::job_posted:
        if (jobs_[b.index].posted) return jobs_[b.index].post;
        return std::nullopt;
      case Ref::job_done:
        if (jobs_[b.index].done) return jobs_[b.index].end;
        return std::nullopt;
    }
    return std::nullopt;
  }

  // Starts the transfer that can start earliest. Each rank has one outgoing and one incoming link
  // (full duplex): a transfer needs both the sender's and the receiver's free, so many-to-one
  // traffic queues at the receiver as it does on a real network.
  bool commit_next() {
    if (pending_.empty()) return false;
    std::size_t best = 0;
    auto key = [&](std::size_t k) {
      const Send& s = sends_[pending_[k]];
      return std::make_tuple(std::max({s.post, out_free_[s.src], in_free_[s.dst]}), s.post, s.src,
                             pending_[k]);
    };
    auto best_key = key(0);
    for (std::size_t k = 1; k < pending_.size(); ++k) {
      const auto kk = key(k);
      if (kk < best_key) {
        best_key = kk;
        best = k;
      }
    }
    Send& s = sends_[pending_[best]];
    s.start = std::get<0>(best_key);
    s.end = s.start + m_.alpha + double(s.bytes) * m_.beta;
    s.committed = true;
    out_free_[s.src] = in_free_[s.dst] = s.end;
    pending_[best] = pending_.back();
    pending_.pop_back();
    return true;
  }

  void check_rank(int r, std::size_t op_index, int peer) const {
    if (peer < 0 || peer >= int(ranks_.size()))
      throw Error(fmt::format("replay: rank {} op {} names rank {}, but the run has {} ranks", r,
                              op_index, peer, ranks_.size()));
  }

  Error stuck() const {
    for (const auto& lane : lanes_) {
      if (lane.done()) continue;
      const int r = lane.rank;
      const std::size_t i = lane.ops[lane.pos];
      const Op& op = logs_[r].ops[i];
      return Error(fmt::format(
          "replay cannot finish: rank {}{} waits at op {} ({}{}) for a message, a collective or a "
          "job that no other log provides; are all the logs from one run?",
          r, lane.id ? fmt::format(" lane {}", lane.id) : std::string(), i, to_string(op.kind),
          op.kind == OpKind::collective ? fmt::format(" '{}'", logs_[r].label(op))
          : op.peer >= 0                 ? fmt::format(" peer {} tag {}", op.peer, op.tag)
                                         : std::string()));
    }
    return Error("replay cannot finish");
  }

  std::span<const RankLog> logs_;
  const CostModel& m_;
  std::vector<RankState> ranks_;
  std::vector<Lane> lanes_;
  std::vector<Job> jobs_;
  std::vector<Send> sends_;
  std::vector<Recv> recvs_;
  std::vector<Coll> colls_;
  std::map<std::pair<std::uint64_t, std::size_t>, std::size_t> coll_index_;
  std::map<Key, std::deque<std::size_t>> send_queue_;  // sends no receive has matched yet
  std::map<Key, std::deque<std::size_t>> recv_queue_;  // receives no send has matched yet
  std::vector<std::size_t> pending_;                   // posted sends not yet on the wire
  std::vector<double> out_free_, in_free_;
  Replay out_;
};

}  // namespace

Replay replay(std::span<const RankLog> logs, const CostModel& model) {
  if (logs.empty()) throw Error("replay: no logs");
  return Engine(logs, model).run();
}

}  // namespace dtlab
