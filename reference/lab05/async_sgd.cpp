// Lab 05 reference: asynchronous SGD on a central server, Hogwild!, local SGD, DiLoCo and gossip.
#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>

#include "dtlab/error.hpp"
#include "dtlab/oplog.hpp"
#include "lab05/async_sgd.hpp"

namespace lab05 {

// ---- Part 1: asynchronous SGD ----

namespace {

// A worker's message starts with a header {kind, version read}; a push's gradient follows it. The
// server answers a start or a push with the version, then the model.
enum Kind : std::int64_t { kStart = 0, kPush = 1, kFinish = 2 };
enum Tag : int { kHeader = 1, kGrads = 2, kVersion = 3, kModel = 4 };

}  // namespace

double step_lr(double lr, std::int64_t staleness, bool aware) {
  if (staleness < 0) throw dtlab::Error(fmt::format("step_lr: staleness {} is negative", staleness));
  return aware && staleness > 0 ? lr / double(staleness) : lr;
}

AsyncReport AsyncServer::run() {
  AsyncReport report;
  std::vector<float> grads(params_.size());
  for (int working = comm_.size() - 1; working > 0;) {
    std::int64_t header[2];
    const int w = comm_.recv(std::span<std::int64_t>(header), dtlab::any_source, kHeader).source;
    if (header[0] == kFinish) {
      --working;
      continue;
    }
    if (header[0] == kPush) {
      comm_.recv(std::span<float>(grads), w, kGrads);
      const double lr = step_lr(config_.lr(version_), version_ - header[1], config_.staleness_aware);
      optimizer_->step(params_, grads, lr);
      report.updates.push_back({.worker = w - 1, .read = header[1], .version = version_, .lr = lr});
      ++version_;
    }
    // The worker posted its receives before it sent, so these blocking sends complete at once.
    const std::int64_t version[1] = {version_};
    comm_.send(std::span<const std::int64_t>(version), w, kVersion);
    comm_.send(std::span<const float>(params_), w, kModel);
  }
  return report;
}

namespace {
// One round trip to the server: the receives for its answer posted first, then the message sent.
void ask(const Comm& comm, Kind kind, std::int64_t& version, std::span<const float> grads, std::span<float> params) {
  std::int64_t answer[1];
  dtlab::Request requests[2] = {comm.irecv(std::span<std::int64_t>(answer), 0, kVersion),
                                comm.irecv(params, 0, kModel)};
  const std::int64_t header[2] = {kind, version};
  comm.send(std::span<const std::int64_t>(header), 0, kHeader);
  if (kind == kPush) comm.send(grads, 0, kGrads);
  comm.wait_all(requests);
  version = answer[0];
}
}  // namespace

void AsyncWorker::start(std::span<float> params) {
  if (params.size() != n_) throw dtlab::Error(fmt::format("start: params has {} floats, the model {}", params.size(), n_));
  if (version_ >= 0) throw dtlab::Error("start: called twice");
  ask(comm_, kStart, version_, {}, params);
}

void AsyncWorker::step(std::span<const float> grads, std::span<float> params) {
  if (grads.size() != n_ || params.size() != n_)
    throw dtlab::Error(fmt::format("step: grads {} and params {} floats, the model {}", grads.size(), params.size(), n_));
  if (version_ < 0) throw dtlab::Error("step: call start() first");
  ask(comm_, kPush, version_, grads, params);
}

void AsyncWorker::finish() {
  const std::int64_t header[2] = {kFinish, version_};
  comm_.send(std::span<const std::int64_t>(header), 0, kHeader);
}

// ---- Part 2: Hogwild! ----

HogwildReport hogwild(const HogwildProblem& problem, std::span<float> w, const HogwildConfig& config) {
  const int T = config.threads;
  if (T < 1 || config.epochs < 0 || w.size() != problem.dim())
    throw dtlab::Error(fmt::format("hogwild: {} threads, {} epochs, {} parameters for a problem of {}: expected 1 or more "
                                   "threads, 0 or more epochs and dim() parameters",
                                   T, config.epochs, w.size(), problem.dim()));
  const std::size_t steps = problem.steps();
  HogwildReport report;
  report.steps_per_thread.assign(std::size_t(T), 0);
  std::mutex mutex;
  const double t0 = dtlab::steady_seconds();
  for (int e = 0; e < config.epochs; ++e) {
    const std::vector<std::uint32_t> order = epoch_order(steps, e, config.seed);
    const float lr = float(config.lr * std::pow(config.decay, double(e)));
    auto thread = [&](std::size_t t) {
      // Block t of the order: the first steps % T blocks one step longer.
      const std::size_t q = steps / std::size_t(T), r = steps % std::size_t(T);
      const std::size_t begin = t * q + std::min(t, r), end = begin + q + (t < r ? 1 : 0);
      const auto scratch = problem.scratch();
      std::vector<float> local, g;
      for (std::size_t pos = begin; pos < end; ++pos) {
        const std::size_t i = order[pos];
        const std::span<const std::uint32_t> idx = problem.touched(i);
        const std::size_t m = idx.empty() ? w.size() : idx.size();
        local.resize(m);
        g.resize(m);
        auto at = [&](std::size_t k) { return std::atomic_ref<float>(w[idx.empty() ? k : idx[k]]); };
        std::unique_lock lock(mutex, std::defer_lock);
        if (config.locked) lock.lock();
        for (std::size_t k = 0; k < m; ++k) local[k] = at(k).load(std::memory_order_relaxed);
        problem.gradient(i, local, *scratch, g);
        // Read again at the write: another thread may have moved w[j] since (its update is kept
        // unless it lands between this load and this store).
        for (std::size_t k = 0; k < m; ++k)
          at(k).store(at(k).load(std::memory_order_relaxed) - lr * g[k], std::memory_order_relaxed);
      }
      report.steps_per_thread[t] += std::int64_t(end - begin);
    };
    std::vector<std::jthread> threads;
    for (std::size_t t = 1; t < std::size_t(T); ++t) threads.emplace_back(thread, t);
    thread(0);
  }  // (each epoch's threads join as its vector goes)
  report.seconds = dtlab::steady_seconds() - t0;
  return report;
}

// ---- Part 3: local SGD and DiLoCo ----

bool LocalSgd::after_step(std::span<float> params) {
  if (++steps_ % sync_every_ != 0) return false;
  allreduce_(comm_, params);
  const float p = float(comm_.size());
  for (float& x : params) x /= p;
  return true;
}

bool DiLoCo::after_step(std::span<float> params) {
  if (params.size() != global_.size())
    throw dtlab::Error(fmt::format("DiLoCo: params has {} floats, the model {}", params.size(), global_.size()));
  if (++steps_ % sync_every_ != 0) return false;
  for (std::size_t k = 0; k < params.size(); ++k) delta_[k] = global_[k] - params[k];
  allreduce_(comm_, delta_);
  // The mean pseudo-gradient: the optimizer divides the sum by p as it reads it.
  optimizer_->step(global_, delta_, outer_.lr, 1.0f / float(comm_.size()));
  std::copy(global_.begin(), global_.end(), params.begin());
  return true;
}

// ---- Part 4: gossip ----

std::vector<int> neighbours(Topology topology, int r, int p) {
  if (p < 1 || r < 0 || r >= p) throw dtlab::Error(fmt::format("neighbours: rank {} of {} does not exist", r, p));
  std::vector<int> n;
  if (topology == Topology::ring) {
    n = {(r + p - 1) % p, (r + 1) % p};
  } else {
    const auto [rows, cols] = torus_shape(p);
    const int row = r / cols, col = r % cols;
    n = {((row + rows - 1) % rows) * cols + col, ((row + 1) % rows) * cols + col, row * cols + (col + cols - 1) % cols,
         row * cols + (col + 1) % cols};
  }
  // On small rings and tori a neighbour can come twice, or be r itself.
  std::sort(n.begin(), n.end());
  n.erase(std::unique(n.begin(), n.end()), n.end());
  std::erase(n, r);
  return n;
}

void gossip_mix(const Comm& comm, Topology topology, std::span<float> x) {
  const std::vector<int> peers = neighbours(topology, comm.rank(), comm.size());
  const std::size_t n = x.size(), d = peers.size();
  if (d == 0) return;
  const std::span<float> inbox = comm.scratch<float>(d * n);
  std::vector<dtlab::Request> requests;
  for (std::size_t j = 0; j < d; ++j) requests.push_back(comm.irecv(inbox.subspan(j * n, n), peers[j]));
  for (const int peer : peers) requests.push_back(comm.isend(std::span<const float>(x), peer));
  comm.wait_all(requests);
  const float weight = float(d + 1);
  for (std::size_t k = 0; k < n; ++k) {
    float sum = x[k];
    for (std::size_t j = 0; j < d; ++j) sum += inbox[j * n + k];
    x[k] = sum / weight;
  }
}

}  // namespace lab05
