// What Comm is made of. Internal to libdtlab: the only place besides the .cpp files that sees MPI.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <map>
#include <memory>
#include <typeindex>
#include <string>
#include <vector>

#include "dtlab/aligned.hpp"
#include "dtlab/comm.hpp"

namespace dtlab {

struct CommImpl {
  MPI_Comm comm = MPI_COMM_NULL;
  bool owned = false;  // freed on destruction (not for MPI_COMM_WORLD)
  int rank = 0;
  int size = 1;
  std::uint64_t id = 0;
  std::vector<int> world_ranks;
  std::uint32_t splits = 0;  // how many splits made from this one: the next child's id is derived from it
  AlignedVector<std::byte> scratch;  // Comm::scratch
  std::map<std::type_index, std::shared_ptr<void>> cached;  // Comm::cached

  ~CommImpl();
};

// Friend of Comm and Request: lets the baseline and the runtime reach the MPI handles.
struct CommAccess {
  static CommImpl& impl(const Comm& c);
  static Comm make(std::shared_ptr<CommImpl> impl) { return Comm(std::move(impl)); }
  static MPI_Request* handle(Request& r) { return reinterpret_cast<MPI_Request*>(r.handle_); }
  static void arm(Request& r, const Comm& c, std::int64_t id, std::int64_t log_index,
                  Dtype type = Dtype::u8);
  static void disarm(Request& r) { r.comm_.reset(); }
  static std::int64_t id(const Request& r) { return r.id_; }
  static std::int64_t log_index(const Request& r) { return r.log_index_; }
  static Dtype type(const Request& r) { return r.type_; }
  static const std::shared_ptr<CommImpl>& comm(const Request& r) { return r.comm_; }
};

MPI_Datatype mpi_type(Dtype t);
MPI_Op mpi_op(ReduceOp op);
// Throws dtlab::Error naming the call when an MPI function does not return MPI_SUCCESS.
void check_mpi(int rc, const char* call);
// The error-reporting communicator: a duplicate of world that only run_main uses.
MPI_Comm error_comm();
// Whether MPI was initialised with MPI_THREAD_MULTIPLE, which a CommWorker needs.
bool mpi_thread_multiple();
// Stamps op with [t0, now] and appends it to this process's log.
void record_op(Op op, double t0);
// Drops the world communicator before MPI_Finalize.
void reset_world_comm();

}  // namespace dtlab
