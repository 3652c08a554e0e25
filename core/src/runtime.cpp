#include "dtlab/runtime.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <thread>

#include "comm_impl.hpp"
#include "dtlab/error.hpp"
#include "dtlab/oplog.hpp"

namespace dtlab {

namespace {
bool g_active = false;
MPI_Comm g_error_comm = MPI_COMM_NULL;
bool g_thread_multiple = false;
}  // namespace

MPI_Comm error_comm() { return g_error_comm; }
bool mpi_thread_multiple() { return g_thread_multiple; }

Runtime::Runtime(int& argc, char**& argv) {
  if (g_active) throw Error("a dtlab::Runtime already exists: make exactly one, in main");
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) throw Error("MPI is already initialised: let dtlab::Runtime do it");
  int provided = 0;
  // MULTIPLE: a CommWorker (async.hpp) communicates from its own thread while the program's thread
  // may call Comm too.
  check_mpi(MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided), "MPI_Init_thread");
  g_thread_multiple = provided >= MPI_THREAD_MULTIPLE;
  // Errors come back as return codes, which Comm turns into dtlab::Error with a message.
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_dup(MPI_COMM_WORLD, &g_error_comm);
  int rank = 0, size = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  auto& log = OpLog::instance();
  log.set_identity(rank, size);
  (void)Comm::world();  // registers world in the log
  // A common time origin for every rank's log, good to the skew of one barrier.
  MPI_Barrier(MPI_COMM_WORLD);
  log.reset_epoch();
  g_active = true;
}

Runtime::~Runtime() {
  reset_world_comm();
  if (g_error_comm != MPI_COMM_NULL) MPI_Comm_free(&g_error_comm);
  MPI_Finalize();
  g_active = false;
}

bool Runtime::active() { return g_active; }

void Runtime::abort(int code) {
  std::fflush(stdout);
  std::fflush(stderr);
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);
}

bool started_by_launcher() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

namespace {

// After an exception on this rank: if every rank reaches this point within the grace period, they
// all failed (a bad option, a missing file) and rank 0 prints each distinct message once. If not,
// the others are stuck waiting for this rank and only MPI_Abort can end the job.
bool all_ranks_failed(double grace_seconds) {
  MPI_Request req;
  if (MPI_Ibarrier(g_error_comm, &req) != MPI_SUCCESS) return false;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration<double>(grace_seconds);
  int done = 0;
  while (!done) {
    MPI_Test(&req, &done, MPI_STATUS_IGNORE);
    if (done) break;
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

void print_all_errors(const std::string& message) {
  int rank = 0, size = 1;
  MPI_Comm_rank(g_error_comm, &rank);
  MPI_Comm_size(g_error_comm, &size);
  int len = static_cast<int>(message.size());
  std::vector<int> lens(size), displs(size);
  MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, g_error_comm);
  int total = 0;
  for (int r = 0; r < size; ++r) displs[r] = std::exchange(total, total + lens[r]);
  std::string all(rank == 0 ? total : 0, '\0');
  MPI_Gatherv(message.data(), len, MPI_CHAR, all.data(), lens.data(), displs.data(), MPI_CHAR, 0,
              g_error_comm);
  if (rank != 0) return;
  std::map<std::string, std::vector<int>> by_message;
  for (int r = 0; r < size; ++r) by_message[all.substr(displs[r], lens[r])].push_back(r);
  for (const auto& [msg, ranks] : by_message) {
    if (ranks.size() == static_cast<std::size_t>(size))
      std::fprintf(stderr, "error: %s\n", msg.c_str());
    else
      std::fprintf(stderr, "error (rank%s %s): %s\n", ranks.size() > 1 ? "s" : "",
                   fmt::format("{}", fmt::join(ranks, ",")).c_str(), msg.c_str());
  }
}

}  // namespace

int run_main(int argc, char** argv, const std::function<int(int, char**)>& body) {
  std::string message;
  try {
    return body(argc, argv);
  } catch (const std::exception& e) {
    message = e.what();
  }
  if (!g_active) {
    std::fprintf(stderr, "error: %s\n", message.c_str());
    return 1;
  }
  int size = 1, rank = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  if (size == 1) {
    std::fprintf(stderr, "error: %s\n", message.c_str());
    return 1;
  }
  if (all_ranks_failed(3.0)) {
    print_all_errors(message);
    return 1;
  }
  std::fprintf(stderr, "rank %d: error: %s\n", rank, message.c_str());
  Runtime::abort(1);
}

}  // namespace dtlab
