// Lab 05's given code: the library allreduce, the constructors (which check and keep what they
// are given), the report's histogram, the order of Hogwild's steps and the topologies' names and
// torus shape. Your code is in async_sgd.cpp.
#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "dtlab/baseline.hpp"
#include "dtlab/error.hpp"
#include "dtlab/rng.hpp"
#include "lab05/async_sgd.hpp"

namespace lab05 {

void library_allreduce(const Comm& comm, std::span<float> data) { dtlab::baseline::allreduce(comm, data); }

std::vector<std::int64_t> AsyncReport::staleness_histogram() const {
  std::vector<std::int64_t> h;
  for (const UpdateRecord& u : updates) {
    const auto s = std::size_t(std::max<std::int64_t>(u.staleness(), 0));
    if (h.size() <= s) h.resize(s + 1);
    ++h[s];
  }
  return h;
}

AsyncServer::AsyncServer(const Comm& comm, std::span<const float> initial, AsyncConfig config)
    : comm_(comm), params_(initial.begin(), initial.end()), config_(std::move(config)),
      optimizer_(dtlab::make_optimizer(config_.optimizer, initial.size())) {
  if (comm.rank() != 0) throw dtlab::Error(fmt::format("rank {} is a worker: only rank 0 serves", comm.rank()));
  if (comm.size() < 2) throw dtlab::Error("asynchronous SGD needs a server and at least one worker: 2 ranks or more");
  if (!config_.lr) throw dtlab::Error("AsyncConfig.lr: a learning-rate schedule is needed");
}

AsyncWorker::AsyncWorker(const Comm& comm, std::size_t n) : comm_(comm), n_(n) {
  if (comm.rank() == 0) throw dtlab::Error("rank 0 is the server: workers are ranks 1 and up");
}

std::vector<std::uint32_t> epoch_order(std::size_t steps, int epoch, std::uint64_t seed) {
  std::vector<std::uint32_t> order(steps);
  std::iota(order.begin(), order.end(), 0u);
  dtlab::Rng rng(seed * 0x9E3779B97F4A7C15ull + std::uint64_t(epoch));
  for (std::size_t i = steps; i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);  // Fisher-Yates
  return order;
}

LocalSgd::LocalSgd(const Comm& comm, int sync_every, AllreduceFn allreduce)
    : comm_(comm), sync_every_(sync_every), allreduce_(std::move(allreduce)) {
  if (sync_every < 1) throw dtlab::Error(fmt::format("local SGD: sync every {} steps? Expected 1 or more", sync_every));
}

DiLoCo::DiLoCo(const Comm& comm, std::span<const float> initial, int sync_every, OuterConfig outer,
               AllreduceFn allreduce)
    : comm_(comm), sync_every_(sync_every), outer_(outer), allreduce_(std::move(allreduce)),
      global_(initial.begin(), initial.end()),
      optimizer_(dtlab::make_optimizer({.name = "sgd", .momentum = outer.momentum, .nesterov = outer.nesterov},
                                       initial.size())),
      delta_(initial.size()) {
  if (sync_every < 1) throw dtlab::Error(fmt::format("DiLoCo: sync every {} steps? Expected 1 or more", sync_every));
  if (!(outer.lr > 0)) throw dtlab::Error(fmt::format("DiLoCo: outer learning rate {}: expected > 0", outer.lr));
}

Topology parse_topology(const std::string& name) {
  if (name == "ring") return Topology::ring;
  if (name == "torus") return Topology::torus;
  throw dtlab::Error(fmt::format("topology '{}': expected ring or torus", name));
}

std::string to_string(Topology t) { return t == Topology::ring ? "ring" : "torus"; }

TorusShape torus_shape(int p) {
  if (p < 1) throw dtlab::Error(fmt::format("a torus of {} ranks? Expected 1 or more", p));
  int rows = 1;
  for (int r = 1; r * r <= p; ++r)
    if (p % r == 0) rows = r;
  return {rows, p / rows};
}

}  // namespace lab05
