// Lab 04's given code: the roles, the constructors (which only keep what they are given) and the
// report's histogram. Your code is in parameter_server.cpp.
#include <fmt/format.h>

#include <algorithm>

#include "dtlab/error.hpp"
#include "lab04/parameter_server.hpp"

namespace lab04 {

Roles make_roles(const Comm& comm, int servers) {
  if (servers < 1 || servers >= comm.size())
    throw dtlab::Error(fmt::format("a parameter server job of {} ranks can have 1 to {} servers, not {} (every job "
                                   "needs at least one server and one worker)",
                                   comm.size(), comm.size() - 1, servers));
  return Roles{.servers = servers, .workers = comm.size() - servers};
}

std::vector<std::int64_t> ServerReport::staleness_histogram() const {
  std::vector<std::int64_t> h;
  for (const PullRecord& p : pulls) {
    const auto s = std::size_t(std::max<std::int64_t>(p.staleness(), 0));
    if (h.size() <= s) h.resize(s + 1);
    ++h[s];
  }
  return h;
}

Server::Server(const Comm& comm, Roles roles, std::span<const float> initial, ServerConfig config)
    : comm_(comm), roles_(roles), range_(key_range(initial.size(), roles.servers, comm.rank())),
      params_(initial.begin() + std::ptrdiff_t(range_.begin), initial.begin() + std::ptrdiff_t(range_.end)),
      config_(std::move(config)), optimizer_(dtlab::make_optimizer(config_.optimizer, range_.size())) {
  if (!roles.is_server(comm.rank()))
    throw dtlab::Error(fmt::format("rank {} is a worker: only ranks 0 to {} serve", comm.rank(), roles.servers - 1));
  if (config_.staleness < 0 && config_.staleness != kAsync)
    throw dtlab::Error(fmt::format("staleness {}: expected 0 (BSP), s > 0 (SSP) or kAsync (ASP)", config_.staleness));
  if (!config_.lr) throw dtlab::Error("ServerConfig.lr: a learning-rate schedule is needed");
  if (!(config_.timeout > 0)) throw dtlab::Error("ServerConfig.timeout: must be positive seconds");
}

Worker::Worker(const Comm& comm, Roles roles, std::size_t n) : comm_(comm), roles_(roles), n_(n) {
  if (roles.is_server(comm.rank()))
    throw dtlab::Error(fmt::format("rank {} is a server: workers are ranks {} and up", comm.rank(), roles.servers));
}

}  // namespace lab04
