// Lab 04: a parameter server. The API you implement; the handout (labs/04-parameter-server/README.md)
// explains each part.
//
// The job's ranks take two roles: the first S are servers, the other W are workers. The model's
// parameters are one flat vector of n keys (floats), cut into S contiguous ranges, one per server
// (ps-lite's range partitioner). Each server holds its range and the optimizer's state for it.
// Each worker repeats, once per clock:
//
//     pull(params)     the whole vector, each range from its server, all servers at once
//     ...              the worker computes a gradient on its own data (not your code)
//     push(grads)      each range of the gradient to its server; this ends the worker's clock
//
// and calls finish() when it has no more data. A server applies pushes with the optimizer and
// answers pulls, holding back a pull that would read too stale a model:
//
//   BSP      (staleness 0)        a worker at clock c reads exactly clocks 0..c-1 of every worker
//   SSP(s)   (staleness s > 0)    it reads at least clocks 0..c-s-1 of every worker (Ho et al.,
//                                 NIPS 2013), and never part of a clock
//   ASP      (staleness kAsync)   it reads whatever the server holds; nobody waits
//
// BSP and SSP apply a clock as one optimizer step on the mean of its pushes, once every worker has
// pushed it (as MXNet's dist_sync server merges), so that BSP is synchronous SGD and SSP(0) is
// BSP; ASP applies every push as it arrives, scaled by 1/W (dist_async). A worker that has been
// silent for `timeout` seconds while nothing of its own waits at the server is dead: the server
// says so in its report and goes on without it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "dtlab/comm.hpp"
#include "dtlab/optim.hpp"

namespace lab04 {

using dtlab::Comm;

// ---- Given (labs/04-parameter-server/given) -------------------------------------------------

// Who is who: ranks 0..servers-1 of the job's communicator serve, the others work.
struct Roles {
  int servers = 1;
  int workers = 1;
  bool is_server(int rank) const { return rank < servers; }
  int server_rank(int s) const { return s; }         // the rank of server s
  int worker_rank(int w) const { return servers + w; }  // the rank of worker w
  int worker_of(int rank) const { return rank - servers; }
};
// Throws dtlab::Error unless 1 <= servers < comm.size().
Roles make_roles(const Comm& comm, int servers);

inline constexpr int kAsync = -1;  // the staleness of ASP: unbounded

struct ServerConfig {
  dtlab::OptimizerConfig optimizer;
  std::function<double(std::int64_t clock)> lr;  // the learning rate of clock c's updates
  int staleness = 0;                             // 0: BSP, s > 0: SSP(s), kAsync: ASP
  double timeout = 5;                            // seconds of silence before a worker is dead
};

// One pull a server answered: worker w at its clock c got a reply that held every worker's
// clocks 0..version-1 in full (and, under ASP, possibly more pushes). Its staleness is c - version.
struct PullRecord {
  int worker = 0;
  std::int64_t clock = 0;
  std::int64_t version = 0;
  std::int64_t staleness() const { return clock - version; }
};

// What a server did, from run().
struct ServerReport {
  std::vector<PullRecord> pulls;  // every pull answered, in the order answered
  std::int64_t pushes = 0;        // pushes received
  std::int64_t updates = 0;       // optimizer steps taken (BSP, SSP: one per clock; ASP: one per push)
  std::vector<int> dead;          // workers declared dead, in the order noticed
  // How many pulls had staleness 0, 1, 2, ...
  std::vector<std::int64_t> staleness_histogram() const;
};

// ---- Part 1: the key ranges -----------------------------------------------------------------

// Keys [begin, end) of server s among `servers` for a vector of n keys: contiguous, in server
// order, as even as can be (sizes differ by at most one, the larger ones first), every key owned
// by exactly one server. Throws dtlab::Error unless 0 <= s < servers.
struct KeyRange {
  std::size_t begin = 0, end = 0;
  std::size_t size() const { return end - begin; }
};
KeyRange key_range(std::size_t n, int servers, int s);

// ---- Part 2: the server ---------------------------------------------------------------------

class Server {
 public:
  // This rank serves range key_range(initial.size(), roles.servers, comm.rank()) of the model,
  // starting from those keys of `initial` (the same vector on every rank). Communicates nothing.
  Server(const Comm& comm, Roles roles, std::span<const float> initial, ServerConfig config);

  // Answers pushes and pulls until every worker has finished (its finish() reached this server)
  // or been declared dead. Collective over the job only in that every worker must take part.
  ServerReport run();

  KeyRange range() const { return range_; }
  std::span<const float> params() const { return params_; }  // this server's keys

 private:
  Comm comm_;
  Roles roles_;
  KeyRange range_;
  std::vector<float> params_;
  ServerConfig config_;
  std::unique_ptr<dtlab::Optimizer> optimizer_;
  // Whatever else a server keeps (merge buffers, clocks, deferred pulls, ...): run() makes it.
  struct State;
  std::shared_ptr<State> state_;
};

// ---- Part 3: the worker ---------------------------------------------------------------------

class Worker {
 public:
  // A worker of a model with n keys. Communicates nothing.
  Worker(const Comm& comm, Roles roles, std::size_t n);

  // The whole parameter vector for this worker's current clock, into params (n floats): every
  // server asked at once, each range written where it belongs. Blocks until every range is here.
  void pull(std::span<float> params);
  // This clock's gradient (n floats): each range sent to its server, without waiting for the
  // servers to take it (grads may be reused as soon as push returns). Ends the clock.
  void push(std::span<const float> grads);
  // No more clocks: every server is told, after this worker's last push. Returns once every
  // message this worker sent has left.
  void finish();

  std::int64_t clock() const { return clock_; }  // clocks pushed so far

 private:
  Comm comm_;
  Roles roles_;
  std::size_t n_;
  std::int64_t clock_ = 0;
  // Whatever else a worker keeps (send buffers, pending requests, ...): the first call makes it.
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace lab04
