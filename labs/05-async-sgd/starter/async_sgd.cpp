// Lab 05: synchronous against asynchronous SGD. Replace every NotImplemented with your code; the
// handout (labs/05-async-sgd/README.md) walks through each part, and lab05/async_sgd.hpp states
// what each function must do.
#include <fmt/format.h>

#include "dtlab/error.hpp"
#include "lab05/async_sgd.hpp"

namespace lab05 {

// ---- Part 1: asynchronous SGD ----

double step_lr(double lr, std::int64_t staleness, bool aware) {
  throw dtlab::NotImplemented("lab05::step_lr");
}

AsyncReport AsyncServer::run() {
  throw dtlab::NotImplemented("lab05::AsyncServer::run");
}

void AsyncWorker::start(std::span<float> params) {
  throw dtlab::NotImplemented("lab05::AsyncWorker::start");
}

void AsyncWorker::step(std::span<const float> grads, std::span<float> params) {
  throw dtlab::NotImplemented("lab05::AsyncWorker::step");
}

void AsyncWorker::finish() {
  throw dtlab::NotImplemented("lab05::AsyncWorker::finish");
}

// ---- Part 2: Hogwild! ----

HogwildReport hogwild(const HogwildProblem& problem, std::span<float> w, const HogwildConfig& config) {
  throw dtlab::NotImplemented("lab05::hogwild");
}

// ---- Part 3: local SGD and DiLoCo ----

bool LocalSgd::after_step(std::span<float> params) {
  throw dtlab::NotImplemented("lab05::LocalSgd::after_step");
}

bool DiLoCo::after_step(std::span<float> params) {
  throw dtlab::NotImplemented("lab05::DiLoCo::after_step");
}

// ---- Part 4: gossip ----

std::vector<int> neighbours(Topology topology, int r, int p) {
  throw dtlab::NotImplemented("lab05::neighbours");
}

void gossip_mix(const Comm& comm, Topology topology, std::span<float> x) {
  throw dtlab::NotImplemented("lab05::gossip_mix");
}

}  // namespace lab05
