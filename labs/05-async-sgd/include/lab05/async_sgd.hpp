// Lab 05: synchronous against asynchronous SGD. The API you implement; the handout
// (labs/05-async-sgd/README.md) explains each part.
//
//   Part 1  asynchronous SGD on a central server: every gradient applied the moment it arrives,
//           its staleness measured, the learning rate divided by it (Zhang et al., IJCAI 2016)
//   Part 2  Hogwild! (Niu, Recht, Re, Wright, NIPS 2011): threads updating shared parameters
//           without locks, against the same loop under one lock
//   Part 3  local SGD (average the parameters every H steps) and DiLoCo (H inner steps, then an
//           outer Nesterov step on the averaged change; Douillard et al. 2023)
//   Part 4  gossip: each rank averages with its neighbours on a ring or a 2-D torus, with a
//           doubly-stochastic mixing matrix and no global collective
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dtlab/comm.hpp"
#include "dtlab/optim.hpp"

namespace lab05 {

using dtlab::Comm;

// An in-place sum over the ranks of comm: what local SGD and DiLoCo average with.
using AllreduceFn = std::function<void(const Comm&, std::span<float>)>;
// Given: the library's allreduce (MPI_Allreduce), the one collective you may use here (Parts 3).
void library_allreduce(const Comm& comm, std::span<float> data);

// ---- Part 1: asynchronous SGD ----------------------------------------------------------------
//
// Rank 0 serves, ranks 1..p-1 work (worker w is rank w + 1). The server holds the model and its
// version: the number of updates applied. A worker repeats
//
//     step(grads, params)   send the gradient it computed on `params` (read at version v); the
//                           server applies it at once and answers with the model after it
//
// Nobody waits for anybody: the gradient of a model read at version v, applied when the server is
// at version u >= v, has staleness u - v (the updates it missed).

// The learning rate of an update with this staleness: lr itself when !aware; with aware,
// lr / staleness, and lr for staleness 0 (Zhang et al.'s staleness-dependent rate).
// Throws dtlab::Error for a negative staleness.
double step_lr(double lr, std::int64_t staleness, bool aware);

struct AsyncConfig {
  dtlab::OptimizerConfig optimizer;               // the server's; its state is the server's too
  std::function<double(std::int64_t update)> lr;  // the base rate of update u (u = version before it)
  bool staleness_aware = false;                   // divide by the staleness (step_lr)
};

// One update the server applied: worker w's gradient, computed on the model at version `read`,
// applied as update `version` (the server's version before it) with learning rate lr.
struct UpdateRecord {
  int worker = 0;
  std::int64_t read = 0;
  std::int64_t version = 0;
  double lr = 0;
  std::int64_t staleness() const { return version - read; }
};

struct AsyncReport {
  std::vector<UpdateRecord> updates;  // in the order applied
  // How many updates had staleness 0, 1, 2, ...
  std::vector<std::int64_t> staleness_histogram() const;
};

class AsyncServer {
 public:
  // Rank 0 of comm, with the model `initial`. Communicates nothing.
  AsyncServer(const Comm& comm, std::span<const float> initial, AsyncConfig config);

  // Serves every worker until each has called finish(): a start is answered with the model; a
  // gradient is applied with the optimizer, learning rate step_lr(config.lr(u), staleness,
  // config.staleness_aware) where u is the version before it, and answered with the model after.
  AsyncReport run();

  std::span<const float> params() const { return params_; }
  std::int64_t version() const { return version_; }

 private:
  Comm comm_;
  std::vector<float> params_;
  AsyncConfig config_;
  std::unique_ptr<dtlab::Optimizer> optimizer_;
  std::int64_t version_ = 0;
};

class AsyncWorker {
 public:
  // Ranks 1..p-1 of comm, a model of n floats. Communicates nothing.
  AsyncWorker(const Comm& comm, std::size_t n);

  // The server's current model into params (n floats); call once, before the first step.
  void start(std::span<float> params);
  // Sends grads, computed on the model the last start() or step() returned, and waits for the
  // model after the server applied it, into params.
  void step(std::span<const float> grads, std::span<float> params);
  // No more steps: the server is told.
  void finish();

  std::int64_t version() const { return version_; }  // the version of the model last received

 private:
  Comm comm_;
  std::size_t n_;
  std::int64_t version_ = -1;
};

// ---- Part 2: Hogwild! ------------------------------------------------------------------------
//
// A problem is a sequence of steps (a sample or a mini-batch each); a step reads and writes only
// the coordinates it touches. Sparse problems touch few, so that two threads rarely collide:
// Hogwild's assumption. A dense one (the MLP) touches every coordinate at every step.

class HogwildProblem {
 public:
  virtual ~HogwildProblem() = default;
  // A thread's own working memory for gradient() (for the MLP: a model of its own).
  struct Scratch {
    virtual ~Scratch() = default;
  };

  virtual std::size_t dim() const = 0;    // parameters
  virtual std::size_t steps() const = 0;  // steps in one epoch
  // The coordinates step i touches, ascending and distinct; empty: every one of them.
  virtual std::span<const std::uint32_t> touched(std::size_t i) const = 0;
  virtual std::unique_ptr<Scratch> scratch() const = 0;
  // The gradient of step i's loss at w, where w holds the touched coordinates' values (in the
  // order of touched(i), or all dim() of them): into g, the same length. Returns the loss.
  virtual double gradient(std::size_t i, std::span<const float> w, Scratch& scratch, std::span<float> g) const = 0;
  // The mean loss over every step at w (the whole vector), for the tests and the programs.
  virtual double loss(std::span<const float> w) const = 0;
};

struct HogwildConfig {
  int threads = 2;
  int epochs = 1;
  double lr = 0.1;     // epoch e's learning rate is lr * decay^e
  double decay = 1.0;
  bool locked = false;  // true: every step (read, gradient, write) under one mutex
  std::uint64_t seed = 1;  // the order of the steps, epoch_order()
};

struct HogwildReport {
  std::vector<std::int64_t> steps_per_thread;  // steps each thread took, over every epoch
  double seconds = 0;                          // wall time of the epochs
};

// Given: epoch e's order of the steps, a permutation of 0..steps-1 drawn from seed and e.
std::vector<std::uint32_t> epoch_order(std::size_t steps, int epoch, std::uint64_t seed);

// Trains w (dim() floats, shared by the threads) for config.epochs epochs. In each epoch, the
// order is epoch_order(problem.steps(), e, config.seed) cut into config.threads contiguous blocks,
// as even as can be, the larger first; thread t takes block t's steps in that order: reads the
// touched coordinates into a buffer of its own, computes the gradient g on them, and writes
// w[j] = w[j] - lr_e * g[k] for each touched j (the k-th), reading w[j] again for the write, in
// float, with lr_e = float(config.lr * decay^e). Without the lock, reads and writes of w are
// relaxed atomic loads and stores (std::atomic_ref): no lock, no read-modify-write instruction;
// an update another thread makes between a read and its write is lost, as Hogwild! allows. Every
// thread finishes epoch e before any starts epoch e + 1.
// Throws dtlab::Error unless threads >= 1, epochs >= 0 and w has dim() floats.
HogwildReport hogwild(const HogwildProblem& problem, std::span<float> w, const HogwildConfig& config);

// ---- Part 3: local SGD and DiLoCo ------------------------------------------------------------
//
// Each rank trains its own copy of the model with its own optimizer on its own data; after every
// optimizer step the training loop calls after_step(params). Every H-th call synchronises.

class LocalSgd {
 public:
  // Throws dtlab::Error unless sync_every >= 1. Communicates nothing.
  LocalSgd(const Comm& comm, int sync_every, AllreduceFn allreduce = library_allreduce);
  // Counts a step; on every sync_every-th, replaces params with their mean over the ranks (one
  // allreduce of the parameters). Returns whether it synchronised.
  bool after_step(std::span<float> params);

 private:
  Comm comm_;
  int sync_every_;
  AllreduceFn allreduce_;
  std::int64_t steps_ = 0;
};

// DiLoCo's outer optimizer: SGD with Nesterov momentum on the pseudo-gradient (the paper's 0.7
// and 0.9).
struct OuterConfig {
  double lr = 0.7;
  double momentum = 0.9;
  bool nesterov = true;
};

class DiLoCo {
 public:
  // Every rank starts from `initial` (the same on every rank): the global model. Throws
  // dtlab::Error unless sync_every >= 1. Communicates nothing.
  DiLoCo(const Comm& comm, std::span<const float> initial, int sync_every, OuterConfig outer = {},
         AllreduceFn allreduce = library_allreduce);
  // Counts an inner step; on every sync_every-th: the pseudo-gradient is the mean over the ranks
  // of (global - params) (one allreduce); the outer optimizer (dtlab's SGD with the outer momentum
  // and Nesterov, no weight decay) steps the global model with it at the outer learning rate; and
  // params become the global model. The inner optimizers keep their state. Returns whether it
  // synchronised.
  bool after_step(std::span<float> params);
  std::span<const float> global() const { return global_; }

 private:
  Comm comm_;
  int sync_every_;
  OuterConfig outer_;
  AllreduceFn allreduce_;
  std::vector<float> global_;
  std::unique_ptr<dtlab::Optimizer> optimizer_;
  std::int64_t steps_ = 0;
  std::vector<float> delta_;  // the pseudo-gradient, kept to save an allocation per round
};

// ---- Part 4: gossip --------------------------------------------------------------------------
//
// The ranks sit on a ring (rank r between r - 1 and r + 1, mod p) or on a 2-D torus of
// torus_shape(p) (rank r at row r / cols, column r % cols; its neighbours the ranks above, below,
// left and right, wrapping around). One mixing step replaces every rank's x with
//
//     x_r  <-  (x_r + sum of x_j over r's distinct neighbours j) / (d + 1)
//
// where d is the number of distinct neighbours (the same for every rank of a ring or a torus, so
// the mixing matrix is symmetric and doubly stochastic: the mean over the ranks is kept).

enum class Topology { ring, torus };
// Throws dtlab::Error unless name is "ring" or "torus".
Topology parse_topology(const std::string& name);
std::string to_string(Topology t);

// Given: the torus's rows and columns: rows the largest divisor of p at most sqrt(p).
struct TorusShape {
  int rows = 1, cols = 1;
};
TorusShape torus_shape(int p);

// Rank r's distinct neighbours (never r itself), ascending. Throws dtlab::Error unless 0 <= r < p.
std::vector<int> neighbours(Topology topology, int r, int p);

// One mixing step of x (the same length on every rank) over comm's ranks: every neighbour's x
// received and this rank's sent to every neighbour at once (non-blocking), then the average.
// Point-to-point messages only: no collective. Collective over comm.
void gossip_mix(const Comm& comm, Topology topology, std::span<float> x);

}  // namespace lab05
