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

// Runs body on every rank and turns an exception into "rank R: error: ..." on stderr, and then
// exit code 1 (when the job has one rank or when every rank fails) or MPI_Abort (otherwise).
int run_main(int argc, char** argv, const std::function<int(int, char**)>& body);

// True when a launcher (mpirun, srun, hydra) started this process as one rank of a job.
bool started_by_launcher();

}  // namespace dtlab
