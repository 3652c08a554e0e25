// Lab 01: collectives. The API you implement, in labs/01-collectives/starter/collectives.cpp.
//
// Every function is collective: every rank of comm calls it with the same arguments (data of the
// same length everywhere; the same root). Data is reduced in place, with +. Use only Comm's
// point-to-point operations (send, recv, sendrecv, isend, irecv, wait, wait_all); the library
// collectives (dtlab/baseline.hpp) and MPI itself are off limits and do not compile here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dtlab/comm.hpp"
#include "dtlab/data.hpp"  // dtlab::Range

namespace lab01 {

using dtlab::Comm;

// The block of an n-element buffer that rank r of p owns in reduce_scatter and allgather (and in
// the ring): contiguous, the first n % p blocks one element longer. Given, not to implement.
dtlab::Range block(std::size_t n, int p, int r);

// dst[i] += src[i], logged as a reduction so that the cost model charges gamma per byte. Use it
// for every local reduction. Given, not to implement.
template <class T>
void accumulate(std::span<T> dst, std::span<const T> src) {
  dtlab::ComputeScope scope("reduce", 0, src.size_bytes());
  T* __restrict d = dst.data();
  const T* __restrict s = src.data();
  const std::size_t n = src.size() < dst.size() ? src.size() : dst.size();
  for (std::size_t i = 0; i < n; ++i) d[i] += s[i];
}

// root's data ends up on every rank. A binomial tree: ceil(log2 p) rounds.
template <class T>
void broadcast(const Comm& comm, std::span<T> data, int root);

// root's data ends as the sum over all ranks. A binomial tree. Other ranks' data is workspace:
// its content after the call is unspecified.
template <class T>
void reduce(const Comm& comm, std::span<T> data, int root);

// Every rank ends with the sum over all ranks, by the four algorithms of the handout:
// everyone sends to rank 0, which adds and sends the result back (naive);
template <class T>
void allreduce_naive(const Comm& comm, std::span<T> data);
// pairwise exchanges at distance 1, 2, 4, ... (recursive doubling; any p);
template <class T>
void allreduce_recursive_doubling(const Comm& comm, std::span<T> data);
// reduce_scatter then allgather around a ring (any p);
template <class T>
void allreduce_ring(const Comm& comm, std::span<T> data);
// reduce-scatter by recursive halving, allgather by recursive doubling (Rabenseifner; any p).
template <class T>
void allreduce_rabenseifner(const Comm& comm, std::span<T> data);

// In place: rank r's block, block(n, p, r), ends as the sum over all ranks of that block. The rest
// of data is workspace: unspecified after the call.
template <class T>
void reduce_scatter(const Comm& comm, std::span<T> data);

// In place: each rank r brings block(n, p, r) of data; every rank ends with every block.
template <class T>
void allgather(const Comm& comm, std::span<T> data);

// The allreduce to use: picks one of the four for this size and rank count, as MPI libraries do.
enum class Algorithm { naive, recursive_doubling, ring, rabenseifner };
Algorithm choose_allreduce(std::size_t bytes, int p);

template <class T>
void allreduce(const Comm& comm, std::span<T> data);

const char* to_string(Algorithm a);

}  // namespace lab01

// The element types every function must support. The given collectives_instances.cpp compiles
// collectives.cpp and instantiates each template for each of them.
#define LAB01_FOR_EACH_TYPE(X) X(float) X(double) X(std::int32_t) X(std::int64_t)

#define LAB01_TEMPLATES_FOR(PREFIX, T)                                              \
  PREFIX void lab01::broadcast<T>(const lab01::Comm&, std::span<T>, int);          \
  PREFIX void lab01::reduce<T>(const lab01::Comm&, std::span<T>, int);             \
  PREFIX void lab01::allreduce_naive<T>(const lab01::Comm&, std::span<T>);         \
  PREFIX void lab01::allreduce_recursive_doubling<T>(const lab01::Comm&, std::span<T>); \
  PREFIX void lab01::allreduce_ring<T>(const lab01::Comm&, std::span<T>);          \
  PREFIX void lab01::allreduce_rabenseifner<T>(const lab01::Comm&, std::span<T>);  \
  PREFIX void lab01::reduce_scatter<T>(const lab01::Comm&, std::span<T>);          \
  PREFIX void lab01::allgather<T>(const lab01::Comm&, std::span<T>);               \
  PREFIX void lab01::allreduce<T>(const lab01::Comm&, std::span<T>);
#define LAB01_DECLARE_FOR(T) LAB01_TEMPLATES_FOR(extern template, T)
#define LAB01_INSTANTIATE_FOR(T) LAB01_TEMPLATES_FOR(template, T)

LAB01_FOR_EACH_TYPE(LAB01_DECLARE_FOR)
