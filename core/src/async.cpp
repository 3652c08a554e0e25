#include "dtlab/async.hpp"

#include <atomic>

#include "dtlab/error.hpp"
#include "dtlab/oplog.hpp"
#include "comm_impl.hpp"

namespace dtlab {

namespace {
// Each worker of a process gets a lane of its own in the op log; lane 0 is the program's.
std::atomic<int> next_lane{0};

void log_job(OpKind kind, std::int64_t id) {
  auto& log = OpLog::instance();
  Op op{.kind = kind, .request = id};
  op.t_start = op.t_end = log.now();
  log.append(op);
}
}  // namespace

CommWorker::CommWorker(const Comm& comm)
    : comm_(comm.split(0, comm.rank())), lane_(std::uint8_t(next_lane.fetch_add(1) % 255 + 1)) {
  if (!mpi_thread_multiple())
    throw Error("CommWorker needs an MPI library with MPI_THREAD_MULTIPLE support; this one "
                "provides less, so communication cannot run on a second thread");
  thread_ = std::thread([this] { loop(); });
}

CommWorker::~CommWorker() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

Work CommWorker::submit(std::function<void(const Comm&)> job) {
  Work w;
  w.state_ = std::make_shared<Work::State>();
  w.state_->id = OpLog::instance().next_request_id();
  w.state_->job = std::move(job);
  log_job(OpKind::job_post, w.state_->id);
  {
    std::lock_guard lock(mu_);
    if (stop_) throw Error("CommWorker::submit: the worker has stopped");
    queue_.push_back(w.state_);
  }
  cv_.notify_all();
  return w;
}

void CommWorker::wait(Work& work) {
  if (!work.pending()) throw Error("CommWorker::wait: this work is not pending (already waited for?)");
  auto& log = OpLog::instance();
  const double t0 = log.now();
  const auto state = std::move(work.state_);
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return state->done; });
  }
  const std::int64_t id = state->id;
  Op op{.kind = OpKind::wait, .request = log.add_wait_ids({&id, 1}), .nwait = 1};
  op.t_start = t0;
  op.t_end = log.now();
  log.append(op);
  if (state->error) std::rethrow_exception(state->error);
}

void CommWorker::loop() {
  OpLog::set_thread_lane(lane_);
  for (;;) {
    std::shared_ptr<Work::State> next;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and nothing left to run
      next = queue_.front();
      queue_.pop_front();
    }
    log_job(OpKind::job_begin, next->id);
    try {
      next->job(comm_);
    } catch (...) {
      next->error = std::current_exception();
    }
    log_job(OpKind::job_end, next->id);
    next->job = nullptr;  // release what the job captured
    {
      std::lock_guard lock(mu_);
      next->done = true;
    }
    cv_.notify_all();
  }
}

}  // namespace dtlab
