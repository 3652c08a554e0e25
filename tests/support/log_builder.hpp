// Builds op logs by hand, as if p ranks had run a program: for testing the replay and the
// timeline without MPI. Times are left at zero: the replay must not depend on them.
#pragma once

#include <string>
#include <vector>

#include "dtlab/oplog.hpp"

namespace dtlab::test {

class LogBuilder {
 public:
  explicit LogBuilder(int p) : logs_(p), next_id_(p, 0), lane_(p, 0) {
    std::vector<int> all(p);
    for (int r = 0; r < p; ++r) all[r] = r;
    for (int r = 0; r < p; ++r) {
      logs_[r].rank = r;
      logs_[r].world_size = p;
      logs_[r].comms.push_back({0, all});
    }
  }
  int size() const { return int(logs_.size()); }

  void send(int r, int dst, std::uint64_t bytes, int tag = 0) {
    add(r, {.kind = OpKind::send, .peer = dst, .tag = tag, .bytes = bytes});
  }
  void recv(int r, int src, std::uint64_t bytes, int tag = 0) {
    add(r, {.kind = OpKind::recv, .peer = src, .tag = tag, .bytes = bytes});
  }
  void sendrecv(int r, int dst, std::uint64_t send_bytes, int src, std::uint64_t recv_bytes,
                int tag = 0) {
    add(r, {.kind = OpKind::sendrecv, .peer = dst, .tag = tag, .bytes = send_bytes,
            .recv_peer = src, .recv_tag = tag, .recv_bytes = recv_bytes});
  }
  std::int64_t isend(int r, int dst, std::uint64_t bytes, int tag = 0) {
    const auto id = next_id_[r]++;
    add(r, {.kind = OpKind::isend, .peer = dst, .tag = tag, .bytes = bytes, .request = id});
    return id;
  }
  std::int64_t irecv(int r, int src, std::uint64_t bytes, int tag = 0) {
    const auto id = next_id_[r]++;
    add(r, {.kind = OpKind::irecv, .peer = src, .tag = tag, .bytes = bytes, .request = id});
    return id;
  }
  void wait(int r, std::vector<std::int64_t> ids) {
    auto& l = logs_[r];
    const auto first = std::int64_t(l.wait_ids.size());
    l.wait_ids.insert(l.wait_ids.end(), ids.begin(), ids.end());
    add(r, {.kind = OpKind::wait, .request = first, .nwait = std::uint32_t(ids.size())});
  }
  void reduce(int r, std::uint64_t bytes) {
    add(r, {.kind = OpKind::compute, .label = label(r, "reduce"), .reduce_bytes = bytes});
  }
  void compute(int r, double flops, const std::string& name = "compute") {
    add(r, {.kind = OpKind::compute, .label = label(r, name), .flops = flops});
  }
  void collective(int r, const std::string& name, std::uint64_t bytes, std::int64_t request = -1) {
    add(r, {.kind = OpKind::collective, .label = label(r, name), .bytes = bytes, .request = request});
  }
  std::int64_t icollective(int r, const std::string& name, std::uint64_t bytes) {
    const auto id = next_id_[r]++;
    collective(r, name, bytes, id);
    return id;
  }

  // The ops added after set_lane(r, k) belong to rank r's lane k (a communication worker's thread).
  void set_lane(int r, std::uint8_t lane) { lane_[r] = lane; }
  // A job: posted on lane 0, run on lane `lane` by calling body there, then waited for by wait().
  std::int64_t job_post(int r) {
    const auto id = next_id_[r]++;
    add(r, {.kind = OpKind::job_post, .request = id});
    return id;
  }
  void job_begin(int r, std::int64_t id) { add(r, {.kind = OpKind::job_begin, .request = id}); }
  void job_end(int r, std::int64_t id) { add(r, {.kind = OpKind::job_end, .request = id}); }

  const std::vector<RankLog>& logs() const { return logs_; }
  std::vector<RankLog>& mutable_logs() { return logs_; }

 private:
  void add(int r, Op op) {
    op.lane = lane_[r];
    logs_[r].ops.push_back(op);
  }
  std::uint16_t label(int r, const std::string& name) {
    auto& l = logs_[r].labels;
    for (std::size_t i = 0; i < l.size(); ++i)
      if (l[i] == name) return std::uint16_t(i);
    l.push_back(name);
    return std::uint16_t(l.size() - 1);
  }
  std::vector<RankLog> logs_;
  std::vector<std::int64_t> next_id_;
  std::vector<std::uint8_t> lane_;
};

// The textbook ring allreduce of n bytes on every rank: p-1 reduce-scatter steps (send one
// chunk right, receive one from the left, reduce it) and p-1 allgather steps. chunk_bytes lets a
// test build the classic mistake of sending the whole buffer every step.
inline LogBuilder ring_allreduce_log(int p, std::uint64_t n, std::uint64_t chunk_bytes = 0) {
  LogBuilder b(p);
  const std::uint64_t chunk = chunk_bytes ? chunk_bytes : n / p;
  for (int r = 0; r < p; ++r) {
    const int right = (r + 1) % p, left = (r + p - 1) % p;
    for (int s = 0; s < p - 1; ++s) {
      b.sendrecv(r, right, chunk, left, chunk);
      b.reduce(r, chunk);
    }
    for (int s = 0; s < p - 1; ++s) b.sendrecv(r, right, chunk, left, chunk);
  }
  return b;
}

}  // namespace dtlab::test
