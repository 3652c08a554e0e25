// The op log: every Comm operation, and every piece of compute a program marks, appended to a
// per-rank list. From it come message and byte counts, the modeled time of a run (costmodel.hpp)
// and a timeline that Perfetto opens (trace.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dtlab {

enum class OpKind : std::uint8_t {
  send,        // blocking send
  recv,        // blocking receive
  sendrecv,    // blocking send and receive at once
  isend,       // non-blocking send: posted here, completed by a later wait
  irecv,       // non-blocking receive: posted here, completed by a later wait
  wait,        // completes one or more requests
  collective,  // a library collective (the baseline) or a barrier; non-blocking ones carry a request
  compute,     // local work the program marked: flops, bytes reduced, or just a named span of time
  job_post,    // a job handed to a communication worker (async.hpp); request: the job's id
  job_begin,   // on the worker's lane: the job starts (not before it was posted)
  job_end,     // on the worker's lane: the job is done; a wait on its id completes then
};
std::string_view to_string(OpKind kind);

// One entry of a rank's log. Ranks are world ranks, so logs of split communicators replay too.
struct Op {
  OpKind kind{};
  std::uint16_t label = 0;      // collective or compute name, index into RankLog::labels
  std::uint64_t comm = 0;       // communicator id, see RankLog::comms
  std::int32_t peer = -1;       // send side: destination; receive side: source as matched
  std::int32_t tag = 0;         // send side: tag; receive side: tag as matched
  std::uint64_t bytes = 0;      // send side / receive side payload; collective: payload per rank
  std::int32_t recv_peer = -1;  // sendrecv only: the receive half
  std::int32_t recv_tag = 0;
  std::uint64_t recv_bytes = 0;
  std::int32_t root = -1;       // rooted collectives: the root's world rank
  std::int64_t request = -1;    // isend, irecv, non-blocking collective: the request's id;
                                // wait: index of its first request id in RankLog::wait_ids
  std::uint32_t nwait = 0;      // wait: how many requests it completes
  std::uint64_t reduce_bytes = 0;  // compute: bytes combined by a reduction (costs gamma each)
  double flops = 0;             // compute: floating-point operations (cost 1/flop_rate each)
  double t_start = 0;           // wall seconds since the log's epoch (a barrier at start-up)
  double t_end = 0;
  std::uint8_t lane = 0;        // the thread that did it: 0 the program's, k > 0 worker k; each
                                // lane is a sequential program of its own in the replay
};

struct CommInfo {
  std::uint64_t id = 0;
  std::vector<int> world_ranks;  // member i of the communicator is world rank world_ranks[i]
};

// Per-rank totals of point-to-point traffic, kept even when the log itself is switched off.
struct Counters {
  std::uint64_t messages_sent = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t messages_received = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t collectives = 0;        // calls of baseline collectives (their traffic is MPI's own)
  std::uint64_t collective_bytes = 0;   // payload bytes handed to them
};

// Everything one rank logged.
struct RankLog {
  int rank = 0;
  int world_size = 1;
  std::vector<Op> ops;
  std::vector<std::string> labels;
  std::vector<CommInfo> comms;
  std::vector<std::int64_t> wait_ids;
  Counters counters;

  const CommInfo& comm_info(std::uint64_t id) const;  // throws dtlab::Error if unknown
  std::string_view label(const Op& op) const { return labels.at(op.label); }
};

// Seconds on the monotonic clock (from an arbitrary origin): for timing intervals.
double steady_seconds();

// This process's log. One per process: every communicator appends to it, from any thread; each
// thread's ops carry its lane (set_thread_lane), so the replay can tell a communication worker's
// ops from the program's own.
class OpLog {
 public:
  static OpLog& instance();

  bool enabled() const { return enabled_; }
  void set_enabled(bool on) { enabled_ = on; }
  // Drop the recorded ops and zero the counters; communicators stay registered.
  void clear();

  const RankLog& data() const { return log_; }
  const Counters& counters() const { return log_.counters; }
  double now() const;  // wall seconds since the epoch

  // Used by Comm and by programs that mark compute; safe to call from several threads.
  std::uint16_t intern(std::string_view label);
  // Appends op stamped with the calling thread's lane; returns its index, or -1 when disabled.
  std::int64_t append(Op op);
  // Changes the logged op at index, if it is still there and fits (irecv completion fills in what
  // was matched).
  void update(std::int64_t index, const std::function<void(Op&)>& change);
  std::int64_t next_request_id();
  std::int64_t add_wait_ids(std::span<const std::int64_t> ids);
  void register_comm(CommInfo info);
  void count_sent(std::uint64_t bytes);
  void count_received(std::uint64_t bytes);
  void count_collective(std::uint64_t bytes);
  void set_identity(int rank, int world_size);
  void reset_epoch();

  // The lane of the calling thread's ops: 0 unless the thread says otherwise.
  static void set_thread_lane(std::uint8_t lane);
  static std::uint8_t thread_lane();

 private:
  OpLog();
  mutable std::recursive_mutex mu_;
  RankLog log_;
  bool enabled_ = true;
  std::int64_t next_request_ = 0;
  double epoch_ = 0;
};

// Marks a span of local compute in the log: created at the start, logged when it ends.
// flops and reduce_bytes feed the cost model; a span with neither shows on the timeline only.
class ComputeScope {
 public:
  explicit ComputeScope(std::string_view label, double flops = 0, std::uint64_t reduce_bytes = 0);
  ~ComputeScope();
  ComputeScope(const ComputeScope&) = delete;
  ComputeScope& operator=(const ComputeScope&) = delete;

 private:
  std::uint16_t label_;
  double flops_;
  std::uint64_t reduce_bytes_;
  double start_;
};

// Logs from every rank, in rank order, as JSON on disk: what `dtlab trace` and the grader replay.
void save_oplogs(const std::filesystem::path& path, std::span<const RankLog> logs);
std::vector<RankLog> load_oplogs(const std::filesystem::path& path);

}  // namespace dtlab
