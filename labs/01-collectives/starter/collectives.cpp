// Lab 01: collectives. Implement every function below; labs/01-collectives/README.md explains
// each algorithm, the rules and how you are graded. Test with:
//   ./dtlab grade lab01              (the public tests and the benchmarks, on your copy)
//   ./dtlab grade lab01 --only ring  (one part)
#include "dtlab/error.hpp"
#include "lab01/collectives.hpp"

namespace lab01 {

template <class T>
void broadcast(const Comm& comm, std::span<T> data, int root) {
  throw dtlab::NotImplemented("lab01::broadcast");
}

template <class T>
void reduce(const Comm& comm, std::span<T> data, int root) {
  throw dtlab::NotImplemented("lab01::reduce");
}

template <class T>
void allreduce_naive(const Comm& comm, std::span<T> data) {
  throw dtlab::NotImplemented("lab01::allreduce_naive");
}

template <class T>
void allreduce_recursive_doubling(const Comm& comm, std::span<T> data) {
  throw dtlab::NotImplemented("lab01::allreduce_recursive_doubling");
}

template <class T>
void reduce_scatter(const Comm& comm, std::span<T> data) {
  throw dtlab::NotImplemented("lab01::reduce_scatter");
}

template <class T>
void allgather(const Comm& comm, std::span<T> data) {
  throw dtlab::NotImplemented("lab01::allgather");
}

template <class T>
void allreduce_ring(const Comm& comm, std::span<T> data) {
  throw dtlab::NotImplemented("lab01::allreduce_ring");
}

template <class T>
void allreduce_rabenseifner(const Comm& comm, std::span<T> data) {
  throw dtlab::NotImplemented("lab01::allreduce_rabenseifner");
}

Algorithm choose_allreduce(std::size_t bytes, int p) {
  throw dtlab::NotImplemented("lab01::choose_allreduce");
}

template <class T>
void allreduce(const Comm& comm, std::span<T> data) {
  throw dtlab::NotImplemented("lab01::allreduce");
}

}  // namespace lab01
