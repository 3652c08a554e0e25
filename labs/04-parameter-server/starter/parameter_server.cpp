// Lab 04: a parameter server. Replace every NotImplemented with your code; the handout
// (labs/04-parameter-server/README.md) walks through each part, and lab04/parameter_server.hpp
// states what each function must do.
#include <fmt/format.h>

#include "dtlab/error.hpp"
#include "lab04/parameter_server.hpp"

namespace lab04 {

// ---- Part 1 ----

KeyRange key_range(std::size_t n, int servers, int s) {
  throw dtlab::NotImplemented("lab04::key_range");
}

// ---- Part 2 ----

// What a server keeps besides its parameters and optimizer: run() makes it
// (state_ = std::make_shared<State>(...)).
struct Server::State {};

ServerReport Server::run() {
  throw dtlab::NotImplemented("lab04::Server::run");
}

// ---- Part 3 ----

// What a worker keeps (send buffers, pending requests, ...): the first call makes it.
struct Worker::State {};

void Worker::pull(std::span<float> params) {
  throw dtlab::NotImplemented("lab04::Worker::pull");
}

void Worker::push(std::span<const float> grads) {
  throw dtlab::NotImplemented("lab04::Worker::push");
}

void Worker::finish() {
  throw dtlab::NotImplemented("lab04::Worker::finish");
}

}  // namespace lab04
