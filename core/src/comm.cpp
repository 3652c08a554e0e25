#include "comm_impl.hpp"

#include <fmt/format.h>

#include <chrono>
#include <climits>
#include <cstring>
#include <thread>

#include "dtlab/error.hpp"

namespace dtlab {

static_assert(sizeof(MPI_Request) <= 8, "Request::handle_ must hold an MPI_Request");

std::size_t dtype_size(Dtype t) {
  switch (t) {
    case Dtype::u8: return 1;
    case Dtype::i32: return 4;
    case Dtype::i64: return 8;
    case Dtype::f32: return 4;
    case Dtype::f64: return 8;
  }
  return 0;
}

MPI_Datatype mpi_type(Dtype t) {
  switch (t) {
    case Dtype::u8: return MPI_UINT8_T;
    case Dtype::i32: return MPI_INT32_T;
    case Dtype::i64: return MPI_INT64_T;
    case Dtype::f32: return MPI_FLOAT;
    case Dtype::f64: return MPI_DOUBLE;
  }
  return MPI_DATATYPE_NULL;
}

MPI_Op mpi_op(ReduceOp op) {
  switch (op) {
    case ReduceOp::sum: return MPI_SUM;
    case ReduceOp::max: return MPI_MAX;
    case ReduceOp::min: return MPI_MIN;
  }
  return MPI_OP_NULL;
}

void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw Error(fmt::format("{} failed: {}", call, std::string(text, len)));
}

CommImpl::~CommImpl() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (owned && comm != MPI_COMM_NULL && !finalized) MPI_Comm_free(&comm);
}

CommImpl& CommAccess::impl(const Comm& c) {
  if (!c.impl_) throw Error("this Comm is empty: it came from split() with a negative color");
  return *c.impl_;
}

void CommAccess::arm(Request& r, const Comm& c, std::int64_t id, std::int64_t log_index,
                     Dtype type) {
  r.comm_ = c.impl_;
  r.id_ = id;
  r.log_index_ = log_index;
  r.type_ = type;
}

namespace {

std::shared_ptr<CommImpl>& world_slot() {
  static std::shared_ptr<CommImpl> world;
  return world;
}

int checked_count(std::size_t count, const char* call) {
  if (count > static_cast<std::size_t>(INT_MAX))
    throw Error(fmt::format("{}: {} elements is more than one MPI message can carry ({}); split it",
                            call, count, INT_MAX));
  return static_cast<int>(count);
}

void check_peer(const CommImpl& c, int peer, bool wildcard_ok, const char* call) {
  if (wildcard_ok && peer == any_source) return;
  if (peer < 0 || peer >= c.size)
    throw Error(fmt::format("{}: rank {} does not exist; this communicator has ranks 0..{}", call,
                            peer, c.size - 1));
}

void check_tag(int tag, bool wildcard_ok, const char* call) {
  if (wildcard_ok && tag == any_tag) return;
  if (tag < 0 || tag > 32767)  // 32767 is the smallest MPI_TAG_UB the standard allows
    throw Error(fmt::format("{}: tag {} is out of range; tags are 0..32767", call, tag));
}

// Message ids of split communicators: the same on every member, different for different colors.
std::uint64_t child_id(std::uint64_t parent, std::uint32_t seq, int color) {
  std::uint64_t x = parent * 0x9E3779B97F4A7C15ull + (std::uint64_t(seq) << 32) + std::uint32_t(color);
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  x ^= x >> 31;
  return x | 1;  // world is 0; children never are
}

Status received(const MPI_Status& st, Dtype type, const char* call) {
  int count = 0;
  MPI_Get_count(&st, mpi_type(type), &count);
  if (count == MPI_UNDEFINED)
    throw Error(fmt::format("{}: the message from rank {} is not a whole number of {}-byte elements",
                            call, st.MPI_SOURCE, dtype_size(type)));
  return Status{st.MPI_SOURCE, st.MPI_TAG, std::size_t(count) * dtype_size(type)};
}

void count_received(std::size_t bytes) { OpLog::instance().count_received(bytes); }
void count_sent(std::size_t bytes) { OpLog::instance().count_sent(bytes); }

int mpi_source(int source) { return source == any_source ? MPI_ANY_SOURCE : source; }
int mpi_tag(int tag) { return tag == any_tag ? MPI_ANY_TAG : tag; }

// MPI_ERR_TRUNCATE is the mistake students make most: say what it means.
void check_recv(int rc, const char* call, std::size_t count, int source) {
  int cls = rc;
  if (rc != MPI_SUCCESS) MPI_Error_class(rc, &cls);
  if (cls == MPI_ERR_TRUNCATE)
    throw Error(fmt::format("{}: the message from rank {} is longer than the receive buffer of {} "
                            "elements; sender and receiver disagree on the size",
                            call, source, count));
  check_mpi(rc, call);
}

}  // namespace

void reset_world_comm() { world_slot().reset(); }

void record_op(Op op, double t0) {
  auto& log = OpLog::instance();
  op.t_start = t0;
  op.t_end = log.now();
  log.append(op);
}

Comm Comm::world() {
  auto& w = world_slot();
  if (!w) {
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized)
      throw Error("Comm::world() needs MPI: construct a dtlab::Runtime at the top of main first");
    w = std::make_shared<CommImpl>();
    w->comm = MPI_COMM_WORLD;
    MPI_Comm_rank(MPI_COMM_WORLD, &w->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &w->size);
    w->id = 0;
    w->world_ranks.resize(w->size);
    for (int r = 0; r < w->size; ++r) w->world_ranks[r] = r;
    OpLog::instance().register_comm({w->id, w->world_ranks});
  }
  return Comm(w);
}

int Comm::rank() const { return CommAccess::impl(*this).rank; }
int Comm::size() const { return CommAccess::impl(*this).size; }
std::uint64_t Comm::id() const { return CommAccess::impl(*this).id; }
int Comm::world_rank(int r) const {
  const auto& c = CommAccess::impl(*this);
  check_peer(c, r, false, "world_rank");
  return c.world_ranks[r];
}

void Comm::send_bytes(const void* data, std::size_t count, Dtype type, int dest, int tag) const {
  const auto& c = CommAccess::impl(*this);
  check_peer(c, dest, false, "send");
  check_tag(tag, false, "send");
  auto& log = OpLog::instance();
  const double t0 = log.now();
  check_mpi(MPI_Send(data, checked_count(count, "send"), mpi_type(type), dest, tag, c.comm),
            "MPI_Send");
  const std::size_t bytes = count * dtype_size(type);
  count_sent(bytes);
  Op op{.kind = OpKind::send, .comm = c.id, .peer = c.world_ranks[dest], .tag = tag, .bytes = bytes};
  record_op(op, t0);
}

Status Comm::recv_bytes(void* data, std::size_t count, Dtype type, int source, int tag) const {
  const auto& c = CommAccess::impl(*this);
  check_peer(c, source, true, "recv");
  check_tag(tag, true, "recv");
  auto& log = OpLog::instance();
  const double t0 = log.now();
  MPI_Status st;
  check_recv(MPI_Recv(data, checked_count(count, "recv"), mpi_type(type), mpi_source(source), mpi_tag(tag), c.comm, &st),
             "recv", count, source);
  const Status s = received(st, type, "recv");
  count_received(s.bytes);
  Op op{.kind = OpKind::recv, .comm = c.id, .peer = c.world_ranks[s.source], .tag = s.tag,
        .bytes = s.bytes};
  record_op(op, t0);
  return s;
}

Status Comm::sendrecv_bytes(const void* send_data, std::size_t send_count, int dest,
                            void* recv_data, std::size_t recv_count, int source, Dtype type,
                            int tag) const {
  const auto& c = CommAccess::impl(*this);
  check_peer(c, dest, false, "sendrecv (dest)");
  check_peer(c, source, true, "sendrecv (source)");
  check_tag(tag, false, "sendrecv");
  auto& log = OpLog::instance();
  const double t0 = log.now();
  MPI_Status st;
  check_recv(MPI_Sendrecv(send_data, checked_count(send_count, "sendrecv"), mpi_type(type), dest,
                          tag, recv_data, checked_count(recv_count, "sendrecv"), mpi_type(type),
                          mpi_source(source), tag, c.comm, &st),
             "sendrecv", recv_count, source);
  const Status s = received(st, type, "sendrecv");
  const std::size_t sent = send_count * dtype_size(type);
  count_sent(sent);
  count_received(s.bytes);
  Op op{.kind = OpKind::sendrecv, .comm = c.id, .peer = c.world_ranks[dest], .tag = tag,
        .bytes = sent, .recv_peer = c.world_ranks[s.source], .recv_tag = s.tag,
        .recv_bytes = s.bytes};
  record_op(op, t0);
  return s;
}

Request Comm::isend_bytes(const void* data, std::size_t count, Dtype type, int dest,
                          int tag) const {
  const auto& c = CommAccess::impl(*this);
  check_peer(c, dest, false, "isend");
  check_tag(tag, false, "isend");
  auto& log = OpLog::instance();
  const double t0 = log.now();
  Request r;
  check_mpi(MPI_Isend(data, checked_count(count, "isend"), mpi_type(type), dest, tag, c.comm,
                      CommAccess::handle(r)),
            "MPI_Isend");
  const std::size_t bytes = count * dtype_size(type);
  count_sent(bytes);
  const std::int64_t id = log.next_request_id();
  CommAccess::arm(r, *this, id, -1);
  Op op{.kind = OpKind::isend, .comm = c.id, .peer = c.world_ranks[dest], .tag = tag,
        .bytes = bytes, .request = id};
  record_op(op, t0);
  return r;
}

Request Comm::irecv_bytes(void* data, std::size_t count, Dtype type, int source, int tag) const {
  const auto& c = CommAccess::impl(*this);
  check_peer(c, source, true, "irecv");
  check_tag(tag, true, "irecv");
  auto& log = OpLog::instance();
  const double t0 = log.now();
  Request r;
  check_mpi(MPI_Irecv(data, checked_count(count, "irecv"), mpi_type(type), mpi_source(source), mpi_tag(tag), c.comm,
                      CommAccess::handle(r)),
            "MPI_Irecv");
  const std::int64_t id = log.next_request_id();
  // Source, tag and size are known only when the wait completes; the wait fills them in.
  Op op{.kind = OpKind::irecv, .comm = c.id,
        .peer = source == any_source ? -1 : c.world_ranks[source], .tag = tag,
        .bytes = count * dtype_size(type), .request = id};
  op.t_start = t0;
  op.t_end = log.now();
  const std::int64_t logged = log.append(op);
  CommAccess::arm(r, *this, id, logged >= 0 ? logged : -2, type);
  return r;
}

namespace {

// What a completed irecv matched: returned, recorded in its log entry and counted.
Status complete_irecv(const Request& r, const MPI_Status& st) {
  const Status s = received(st, CommAccess::type(r), "irecv");
  count_received(s.bytes);
  const auto& c = *CommAccess::comm(r);
  OpLog::instance().update(CommAccess::log_index(r), [&](Op& op) {
    if (op.kind == OpKind::irecv && op.request == CommAccess::id(r)) {  // else the log was cleared
      op.peer = c.world_ranks[s.source];
      op.tag = s.tag;
      op.bytes = s.bytes;
    }
  });
  return s;
}

// Only irecv requests carry a log index (-2 when logging was off: nothing to fill in, but still a
// receive to count).
bool is_irecv(const Request& r) { return CommAccess::log_index(r) != -1; }

}  // namespace

Status Comm::wait(Request& request) const {
  if (!request.pending())
    throw Error("wait: this request is not pending (already waited for, or never started)");
  auto& log = OpLog::instance();
  const double t0 = log.now();
  MPI_Status st;
  const int rc = MPI_Wait(CommAccess::handle(request), &st);
  const std::int64_t id = CommAccess::id(request);
  Status s;
  if (rc == MPI_SUCCESS && is_irecv(request)) s = complete_irecv(request, st);
  CommAccess::disarm(request);
  check_mpi(rc, "MPI_Wait");
  Op op{.kind = OpKind::wait, .request = log.add_wait_ids({&id, 1}), .nwait = 1};
  record_op(op, t0);
  return s;
}

std::optional<Status> Comm::probe(int source, int tag, double seconds) const {
  const auto& c = CommAccess::impl(*this);
  check_peer(c, source, true, "probe");
  check_tag(tag, true, "probe");
  const double deadline = steady_seconds() + seconds;
  for (double nap = 1e-6;; nap = std::min(2 * nap, 2e-4)) {
    int found = 0;
    MPI_Status st;
    check_mpi(MPI_Iprobe(mpi_source(source), mpi_tag(tag), c.comm, &found, &st), "MPI_Iprobe");
    if (found) return received(st, Dtype::u8, "probe");
    if (steady_seconds() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::duration<double>(nap));
  }
}

void Comm::wait_all(std::span<Request> requests) const {
  auto& log = OpLog::instance();
  const double t0 = log.now();
  std::vector<MPI_Request> handles;
  std::vector<std::int64_t> ids;
  std::vector<Request*> live;
  for (auto& r : requests) {
    if (!r.pending()) continue;
    handles.push_back(*CommAccess::handle(r));
    ids.push_back(CommAccess::id(r));
    live.push_back(&r);
  }
  std::vector<MPI_Status> st(handles.size());
  const int rc = MPI_Waitall(static_cast<int>(handles.size()), handles.data(), st.data());
  for (std::size_t i = 0; i < live.size(); ++i) {
    if (rc == MPI_SUCCESS && is_irecv(*live[i])) complete_irecv(*live[i], st[i]);
    CommAccess::disarm(*live[i]);
  }
  check_mpi(rc, "MPI_Waitall");
  if (ids.empty()) return;
  Op op{.kind = OpKind::wait, .request = log.add_wait_ids(ids),
        .nwait = static_cast<std::uint32_t>(ids.size())};
  record_op(op, t0);
}

void Comm::barrier() const {
  const auto& c = CommAccess::impl(*this);
  auto& log = OpLog::instance();
  const double t0 = log.now();
  check_mpi(MPI_Barrier(c.comm), "MPI_Barrier");
  Op op{.kind = OpKind::collective, .label = log.intern("barrier"), .comm = c.id};
  record_op(op, t0);
}

void* Comm::scratch_bytes(std::size_t bytes) const {
  if (impl_->scratch.size() < bytes) impl_->scratch.resize(bytes);
  return impl_->scratch.data();
}

std::shared_ptr<void>& Comm::cached_slot(std::type_index type) const { return impl_->cached[type]; }

Comm Comm::split(int color, int key) const {
  auto& c = CommAccess::impl(*this);
  auto& log = OpLog::instance();
  const double t0 = log.now();
  MPI_Comm out = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split(c.comm, color < 0 ? MPI_UNDEFINED : color, key, &out), "MPI_Comm_split");
  const std::uint32_t seq = c.splits++;
  Op op{.kind = OpKind::collective, .label = log.intern("split"), .comm = c.id};
  record_op(op, t0);
  if (out == MPI_COMM_NULL) return Comm(nullptr);
  auto child = std::make_shared<CommImpl>();
  child->comm = out;
  child->owned = true;
  MPI_Comm_rank(out, &child->rank);
  MPI_Comm_size(out, &child->size);
  child->id = child_id(c.id, seq, color);
  MPI_Group world_group, group;
  MPI_Comm_group(MPI_COMM_WORLD, &world_group);
  MPI_Comm_group(out, &group);
  std::vector<int> local(child->size);
  for (int r = 0; r < child->size; ++r) local[r] = r;
  child->world_ranks.resize(child->size);
  MPI_Group_translate_ranks(group, child->size, local.data(), world_group,
                            child->world_ranks.data());
  MPI_Group_free(&group);
  MPI_Group_free(&world_group);
  log.register_comm({child->id, child->world_ranks});
  return Comm(std::move(child));
}

Request::Request(Request&& other) noexcept
    : comm_(std::move(other.comm_)), id_(other.id_), log_index_(other.log_index_),
      type_(other.type_) {
  std::memcpy(handle_, other.handle_, sizeof handle_);
}

Request& Request::operator=(Request&& other) noexcept {
  if (this != &other) {
    complete_quietly();
    comm_ = std::move(other.comm_);
    std::memcpy(handle_, other.handle_, sizeof handle_);
    id_ = other.id_;
    log_index_ = other.log_index_;
    type_ = other.type_;
  }
  return *this;
}

Request::~Request() { complete_quietly(); }

void Request::complete_quietly() noexcept {
  if (!comm_) return;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Wait(CommAccess::handle(*this), MPI_STATUS_IGNORE);
  comm_.reset();
}

}  // namespace dtlab
