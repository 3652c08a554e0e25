// Start-up and shut-down of a dtlab process: MPI, the op log's clock, error reporting.
#pragma once

#include <functional>

namespace dtlab {

// Initialises MPI (MPI_THREAD_FUNNELED) on construction and finalises it on destruction. A
// program makes exactly one, in main. It works as a singleton (plain ./prog) or under mpirun/srun.
class Runtime {
 public:
  Runtime(int& argc, char**& argv);
  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  static bool active();
  // Ends every rank of the job at once (MPI_Abort). For errors seen by one rank only, where
  // returning would leave the other ranks waiting for it forever.
  [[noreturn]] static void abort(int code);
};

// Runs body on every rank and turns an exception into an error message and a non-zero exit. When
// every rank fails (a bad option, a missing file) the message is printed once and each rank returns
// 1; when only some do, the failing rank prints "rank R: error: ..." and aborts the job, since the
// others would wait for it forever. The Runtime must outlive this call (declare it before).
int run_main(int argc, char** argv, const std::function<int(int, char**)>& body);

// True when a launcher (mpirun, srun, hydra) started this process as one rank of a job.
bool started_by_launcher();

}  // namespace dtlab
