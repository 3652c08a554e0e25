#include "dtlab/baseline.hpp"

#include <fmt/format.h>

#include "comm_impl.hpp"
#include "dtlab/error.hpp"

namespace dtlab::baseline::detail {

namespace {

int checked(std::size_t count, const char* call) {
  if (count > static_cast<std::size_t>(INT_MAX))
    throw Error(fmt::format("baseline::{}: {} elements is more than MPI's int count allows", call,
                            count));
  return static_cast<int>(count);
}

void check_root(const CommImpl& c, int root, const char* call) {
  if (root < 0 || root >= c.size)
    throw Error(fmt::format("baseline::{}: root {} does not exist; ranks are 0..{}", call, root,
                            c.size - 1));
}

// Runs one library collective and logs it with its per-rank payload, so the cost model can price it.
template <class F>
void logged(const CommImpl& c, const char* name, std::size_t bytes, int root, F&& call,
            std::int64_t request = -1) {
  auto& log = OpLog::instance();
  const double t0 = log.now();
  call();
  log.count_collective(bytes);
  record_op({.kind = OpKind::collective, .label = log.intern(name), .comm = c.id, .bytes = bytes,
             .root = root < 0 ? -1 : c.world_ranks[root], .request = request},
            t0);
}

}  // namespace

void allreduce(const Comm& comm, void* data, std::size_t count, Dtype type, ReduceOp op) {
  const auto& c = CommAccess::impl(comm);
  logged(c, "allreduce", count * dtype_size(type), -1, [&] {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data, checked(count, "allreduce"), mpi_type(type),
                            mpi_op(op), c.comm),
              "MPI_Allreduce");
  });
}

void broadcast(const Comm& comm, void* data, std::size_t count, Dtype type, int root) {
  const auto& c = CommAccess::impl(comm);
  check_root(c, root, "broadcast");
  logged(c, "broadcast", count * dtype_size(type), root, [&] {
    check_mpi(MPI_Bcast(data, checked(count, "broadcast"), mpi_type(type), root, c.comm),
              "MPI_Bcast");
  });
}

void reduce(const Comm& comm, void* data, std::size_t count, Dtype type, ReduceOp op, int root) {
  const auto& c = CommAccess::impl(comm);
  check_root(c, root, "reduce");
  logged(c, "reduce", count * dtype_size(type), root, [&] {
    const int n = checked(count, "reduce");
    if (c.rank == root)
      check_mpi(MPI_Reduce(MPI_IN_PLACE, data, n, mpi_type(type), mpi_op(op), root, c.comm),
                "MPI_Reduce");
    else
      check_mpi(MPI_Reduce(data, nullptr, n, mpi_type(type), mpi_op(op), root, c.comm),
                "MPI_Reduce");
  });
}

void allgather(const Comm& comm, const void* send, std::size_t count, void* recv, Dtype type) {
  const auto& c = CommAccess::impl(comm);
  // The cost model prices allgather by the bytes every rank ends with.
  logged(c, "allgather", count * dtype_size(type) * c.size, -1, [&] {
    const int n = checked(count, "allgather");
    check_mpi(MPI_Allgather(send, n, mpi_type(type), recv, n, mpi_type(type), c.comm),
              "MPI_Allgather");
  });
}

void reduce_scatter(const Comm& comm, const void* send, void* recv, std::size_t count, Dtype type,
                    ReduceOp op) {
  const auto& c = CommAccess::impl(comm);
  // ... and reduce-scatter by the bytes every rank starts with.
  logged(c, "reduce_scatter", count * dtype_size(type) * c.size, -1, [&] {
    check_mpi(MPI_Reduce_scatter_block(send, recv, checked(count, "reduce_scatter"),
                                       mpi_type(type), mpi_op(op), c.comm),
              "MPI_Reduce_scatter_block");
  });
}

Request iallreduce(const Comm& comm, void* data, std::size_t count, Dtype type, ReduceOp op) {
  const auto& c = CommAccess::impl(comm);
  auto& log = OpLog::instance();
  Request r;
  const std::int64_t id = log.next_request_id();
  logged(
      c, "allreduce", count * dtype_size(type), -1,
      [&] {
        check_mpi(MPI_Iallreduce(MPI_IN_PLACE, data, checked(count, "iallreduce"), mpi_type(type),
                                 mpi_op(op), c.comm, CommAccess::handle(r)),
                  "MPI_Iallreduce");
      },
      id);
  CommAccess::arm(r, comm, id, -1);
  return r;
}

}  // namespace dtlab::baseline::detail
