// dtlab::Comm: the only way lab code talks to other ranks.
//
// A thin, logged layer over MPI point-to-point communication. It deliberately does not include
// <mpi.h>: lab submissions are compiled without MPI's headers, so everything they send goes through
// here and lands in the op log (oplog.hpp). The library collectives live apart, in baseline.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <typeindex>
#include <span>
#include <type_traits>
#include <vector>

#include "dtlab/oplog.hpp"

namespace dtlab {

enum class Dtype : std::uint8_t { u8, i32, i64, f32, f64 };

template <class T>
concept Element = std::is_same_v<T, std::uint8_t> || std::is_same_v<T, std::int32_t> ||
                  std::is_same_v<T, std::int64_t> || std::is_same_v<T, float> ||
                  std::is_same_v<T, double>;

template <Element T>
constexpr Dtype dtype_of() {
  if constexpr (std::is_same_v<T, std::uint8_t>) return Dtype::u8;
  else if constexpr (std::is_same_v<T, std::int32_t>) return Dtype::i32;
  else if constexpr (std::is_same_v<T, std::int64_t>) return Dtype::i64;
  else if constexpr (std::is_same_v<T, float>) return Dtype::f32;
  else return Dtype::f64;
}
std::size_t dtype_size(Dtype t);

enum class ReduceOp : std::uint8_t { sum, max, min };

inline constexpr int any_source = -1;  // recv: match a message from any rank
inline constexpr int any_tag = -1;     // recv: match a message with any tag

// What a receive matched: ranks are ranks of the communicator that received.
struct Status {
  int source = -1;
  int tag = -1;
  std::size_t bytes = 0;
};

class Comm;
struct CommImpl;  // defined where MPI is visible (core/src/comm_impl.hpp)

// A pending non-blocking operation. Move-only; complete it with Comm::wait or Comm::wait_all.
// One that goes out of scope still pending is waited for by its destructor, because MPI may still
// be reading or writing its buffer.
class Request {
 public:
  Request() = default;
  Request(Request&& other) noexcept;
  Request& operator=(Request&& other) noexcept;
  Request(const Request&) = delete;
  Request& operator=(const Request&) = delete;
  ~Request();

  bool pending() const { return comm_ != nullptr; }

 private:
  friend struct CommAccess;
  std::shared_ptr<CommImpl> comm_;  // the communicator it was posted on; null when done
  alignas(8) unsigned char handle_[8]{};    // the MPI_Request
  std::int64_t id_ = -1;                 // id in the op log
  std::int64_t log_index_ = -1;          // irecv: log entry to fill in with what was matched
  Dtype type_ = Dtype::u8;               // irecv: element type, to count what arrived
  void complete_quietly() noexcept;      // for the destructor and move assignment
};

// A group of ranks that can talk to each other. Cheap to copy: copies share one communicator.
class Comm {
 public:
  // Every process of the job. Needs a live dtlab::Runtime (runtime.hpp).
  static Comm world();

  int rank() const;
  int size() const;
  // This communicator's rank r as a rank of world.
  int world_rank(int r) const;
  // The id the op log knows this communicator by.
  std::uint64_t id() const;

  template <Element T>
  void send(std::span<const T> data, int dest, int tag = 0) const {
    send_bytes(data.data(), data.size(), dtype_of<T>(), dest, tag);
  }
  template <Element T>
  Status recv(std::span<T> data, int source, int tag = 0) const {
    return recv_bytes(data.data(), data.size(), dtype_of<T>(), source, tag);
  }
  // Send to dest and receive from source at the same time, as one operation. The two buffers must
  // not overlap. This is the step of a ring or a butterfly without the deadlock of send-then-recv.
  template <Element T>
  Status sendrecv(std::span<const T> send_data, int dest, std::span<T> recv_data, int source,
                  int tag = 0) const {
    return sendrecv_bytes(send_data.data(), send_data.size(), dest, recv_data.data(),
                          recv_data.size(), source, dtype_of<T>(), tag);
  }
  template <Element T>
  [[nodiscard]] Request isend(std::span<const T> data, int dest, int tag = 0) const {
    return isend_bytes(data.data(), data.size(), dtype_of<T>(), dest, tag);
  }
  template <Element T>
  [[nodiscard]] Request irecv(std::span<T> data, int source, int tag = 0) const {
    return irecv_bytes(data.data(), data.size(), dtype_of<T>(), source, tag);
  }
  // Convenience overloads so that a std::vector can be passed directly.
  template <Element T>
  void send(const std::vector<T>& data, int dest, int tag = 0) const {
    send(std::span<const T>(data), dest, tag);
  }
  template <Element T>
  [[nodiscard]] Request isend(const std::vector<T>& data, int dest, int tag = 0) const {
    return isend(std::span<const T>(data), dest, tag);
  }

  // A buffer of n elements for a collective's temporary data, owned by this communicator (its
  // copies share it): it grows once and is reused, where a fresh 64 MiB vector per call would pay
  // for its page faults every time. Valid until the next scratch() on this communicator, so a
  // collective takes one and calls no other that takes one while it uses it. A thread with its own
  // communicator (dtlab::CommWorker splits one) has its own buffer.
  template <Element T>
  std::span<T> scratch(std::size_t n) const {
    return {static_cast<T*>(scratch_bytes(n * sizeof(T))), n};
  }

  // An object of type T kept with this communicator (its copies share it), made on first use and
  // destroyed with the communicator: MPI's attribute caching (MPI_Comm_set_attr). For state that
  // belongs to one communicator's collectives, such as staging buffers, instead of a static.
  template <class T>
  T& cached() const {
    std::shared_ptr<void>& slot = cached_slot(std::type_index(typeid(T)));
    if (!slot) slot = std::make_shared<T>();
    return *static_cast<T*>(slot.get());
  }

  Status wait(Request& request) const;
  void wait_all(std::span<Request> requests) const;
  // Waits up to `seconds` for a message from source with tag (any_source, any_tag match any) to
  // arrive, and returns its envelope (who sent it, its tag and size in bytes) without receiving
  // it: a recv from that source with that tag then takes exactly it. Nothing when the time ran out.
  // How a server serves whoever speaks first, sizes its buffer to the message, and notices a peer
  // that has gone silent, since MPI itself waits forever. Not logged (the recv that follows is). It
  // polls, sleeping a little longer each time up to 0.2 ms, so that a rank waiting a long while
  // leaves its core to the others.
  std::optional<Status> probe(int source, int tag, double seconds) const;
  void barrier() const;

  // MPI_Comm_split: ranks with the same color form a new communicator, ordered by key then by rank.
  // A negative color leaves this rank out (the result is then an empty Comm: valid() is false).
  Comm split(int color, int key) const;
  bool valid() const { return impl_ != nullptr; }

  bool operator==(const Comm& other) const { return impl_ == other.impl_; }

 private:
  explicit Comm(std::shared_ptr<CommImpl> impl) : impl_(std::move(impl)) {}
  friend struct CommAccess;

  void send_bytes(const void* data, std::size_t count, Dtype type, int dest, int tag) const;
  Status recv_bytes(void* data, std::size_t count, Dtype type, int source, int tag) const;
  Status sendrecv_bytes(const void* send_data, std::size_t send_count, int dest, void* recv_data,
                        std::size_t recv_count, int source, Dtype type, int tag) const;
  Request isend_bytes(const void* data, std::size_t count, Dtype type, int dest, int tag) const;
  Request irecv_bytes(void* data, std::size_t count, Dtype type, int source, int tag) const;
  void* scratch_bytes(std::size_t bytes) const;
  std::shared_ptr<void>& cached_slot(std::type_index type) const;

  std::shared_ptr<CommImpl> impl_;
};

// The op logs of every rank of the job, in rank order, gathered on world rank 0 (empty elsewhere).
// Collective over world; its own traffic is not logged.
std::vector<RankLog> gather_logs();

}  // namespace dtlab
