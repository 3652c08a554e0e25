// Communication on a background thread, so that a program can go on computing while it runs.
//
// A CommWorker is what PyTorch's ProcessGroupGloo worker thread or a CUDA stream of NCCL calls is
// to DDP: jobs run one after another, in the order they were submitted, on a thread of their own
// and on a communicator of their own (a duplicate of the one given), so their messages never match
// the program's. Any blocking collective works in a job: the library's or a Lab 01 allreduce.
//
// Every rank must create its worker at the same point (duplicating a communicator is collective)
// and submit the same jobs in the same order, as with any collective.
//
// In the op log, submit() and wait() appear on the program's lane and each job's operations on the
// worker's lane, bracketed by job_begin and job_end, so the replay (costmodel.hpp) models the job
// running alongside the program's compute: that is how the grader sees overlap.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "dtlab/comm.hpp"

namespace dtlab {

class CommWorker;

// A submitted job. Move-only; complete it with CommWorker::wait.
class Work {
 public:
  Work() = default;
  bool pending() const { return state_ != nullptr; }

 private:
  friend class CommWorker;
  struct State {
    std::int64_t id = -1;
    std::function<void(const Comm&)> job;
    bool done = false;
    std::exception_ptr error;
  };
  std::shared_ptr<State> state_;
};

class CommWorker {
 public:
  // Duplicates comm for the worker's own traffic and starts the thread. Collective over comm.
  explicit CommWorker(const Comm& comm);
  // Waits for the jobs still queued (a destructor cannot report their errors) and stops the thread.
  ~CommWorker();
  CommWorker(const CommWorker&) = delete;
  CommWorker& operator=(const CommWorker&) = delete;

  // Queues job; it runs after every job submitted before it, with the worker's communicator.
  [[nodiscard]] Work submit(std::function<void(const Comm&)> job);
  // Blocks until work is done; rethrows what the job threw. work is no longer pending afterwards.
  void wait(Work& work);

  // The worker's communicator: the same ranks as the one given.
  const Comm& comm() const { return comm_; }

 private:
  void loop();

  Comm comm_;
  std::uint8_t lane_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Work::State>> queue_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace dtlab
