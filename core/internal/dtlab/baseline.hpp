// The library collectives (MPI_Allreduce and friends): the baseline that lab solutions are measured
// against. Lab solutions may not use them; the grader rejects submissions that include this header.
// Each call is logged as one collective op, so the cost model and the timeline see it.
#pragma once

#include <span>

#include "dtlab/comm.hpp"
#include "dtlab/error.hpp"

namespace dtlab::baseline {

namespace detail {
void allreduce(const Comm& comm, void* data, std::size_t count, Dtype type, ReduceOp op);
void broadcast(const Comm& comm, void* data, std::size_t count, Dtype type, int root);
void reduce(const Comm& comm, void* data, std::size_t count, Dtype type, ReduceOp op, int root);
void allgather(const Comm& comm, const void* send, std::size_t count, void* recv, Dtype type);
void reduce_scatter(const Comm& comm, const void* send, void* recv, std::size_t count, Dtype type,
                    ReduceOp op);
Request iallreduce(const Comm& comm, void* data, std::size_t count, Dtype type, ReduceOp op);
}  // namespace detail

// In place: every rank ends with the element-wise reduction of every rank's data.
template <Element T>
void allreduce(const Comm& comm, std::span<T> data, ReduceOp op = ReduceOp::sum) {
  detail::allreduce(comm, data.data(), data.size(), dtype_of<T>(), op);
}
// Every rank ends with root's data.
template <Element T>
void broadcast(const Comm& comm, std::span<T> data, int root) {
  detail::broadcast(comm, data.data(), data.size(), dtype_of<T>(), root);
}
// In place on root: root ends with the reduction; other ranks' data is left as it was.
template <Element T>
void reduce(const Comm& comm, std::span<T> data, int root, ReduceOp op = ReduceOp::sum) {
  detail::reduce(comm, data.data(), data.size(), dtype_of<T>(), op, root);
}
// recv holds comm.size() blocks of send.size() elements; block r comes from rank r.
template <Element T>
void allgather(const Comm& comm, std::span<const T> send, std::span<T> recv) {
  if (recv.size() != send.size() * static_cast<std::size_t>(comm.size()))
    throw Error("baseline::allgather: recv must hold size() * send.size() elements");
  detail::allgather(comm, send.data(), send.size(), recv.data(), dtype_of<T>());
}
// send holds comm.size() blocks of recv.size() elements; rank r ends with the reduction of block r.
template <Element T>
void reduce_scatter(const Comm& comm, std::span<const T> send, std::span<T> recv,
                    ReduceOp op = ReduceOp::sum) {
  if (send.size() != recv.size() * static_cast<std::size_t>(comm.size()))
    throw Error("baseline::reduce_scatter: send must hold size() * recv.size() elements");
  detail::reduce_scatter(comm, send.data(), recv.data(), recv.size(), dtype_of<T>(), op);
}
// Non-blocking allreduce in place (MPI_Iallreduce); data must stay alive until the wait.
template <Element T>
[[nodiscard]] Request iallreduce(const Comm& comm, std::span<T> data, ReduceOp op = ReduceOp::sum) {
  return detail::iallreduce(comm, data.data(), data.size(), dtype_of<T>(), op);
}

}  // namespace dtlab::baseline
