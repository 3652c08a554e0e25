#include "dtlab/trace.hpp"

#include <set>

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "dtlab/io.hpp"

namespace dtlab {

using nlohmann::json;

namespace {

constexpr int kComputeThread = 0;
constexpr int kCommThread = 1;

// The track of an op: the program's compute, the program's communication, or one track per
// communication worker (async.hpp), which shows its jobs running beside the program's compute.
int track(const Op& op) {
  if (op.lane > 0) return kCommThread + op.lane;
  return op.kind == OpKind::compute ? kComputeThread : kCommThread;
}

bool is_job_marker(const Op& op) {
  return op.kind == OpKind::job_post || op.kind == OpKind::job_begin || op.kind == OpKind::job_end;
}

std::string op_name(const RankLog& log, const Op& op) {
  if (op.kind == OpKind::collective || op.kind == OpKind::compute) return std::string(log.label(op));
  return std::string(to_string(op.kind));
}

json op_args(const RankLog& log, const Op& op) {
  json a = json::object();
  switch (op.kind) {
    case OpKind::send:
    case OpKind::isend: a = {{"to", op.peer}, {"tag", op.tag}, {"bytes", op.bytes}}; break;
    case OpKind::recv:
    case OpKind::irecv: a = {{"from", op.peer}, {"tag", op.tag}, {"bytes", op.bytes}}; break;
    case OpKind::sendrecv:
      a = {{"to", op.peer}, {"from", op.recv_peer}, {"tag", op.tag}, {"bytes_sent", op.bytes},
           {"bytes_received", op.recv_bytes}};
      break;
    case OpKind::wait: {
      json ids = json::array();
      for (std::uint32_t i = 0; i < op.nwait; ++i)
        if (op.request >= 0 && std::size_t(op.request + i) < log.wait_ids.size())
          ids.push_back(log.wait_ids[op.request + i]);
      a = {{"requests", ids}};
      break;
    }
    case OpKind::collective:
      a = {{"bytes", op.bytes}, {"comm", op.comm}};
      if (op.root >= 0) a["root"] = op.root;
      break;
    case OpKind::compute:
      if (op.flops > 0) a["flops"] = op.flops;
      if (op.reduce_bytes > 0) a["reduce_bytes"] = op.reduce_bytes;
      break;
    case OpKind::job_post:
    case OpKind::job_begin:
    case OpKind::job_end: break;
  }
  if (op.request >= 0 && op.kind != OpKind::wait) a["request"] = op.request;
  return a;
}

}  // namespace

std::string chrome_trace(std::span<const RankLog> logs, const Replay& replay, TraceClock clock) {
  json events = json::array();
  auto when = [&](int r, std::size_t i) -> Interval {
    if (clock == TraceClock::model) return replay.op_times.at(r).at(i);
    const Op& op = logs[r].ops[i];
    return {op.t_start, op.t_end};
  };
  for (std::size_t r = 0; r < logs.size(); ++r) {
    const int pid = int(r);
    events.push_back({{"ph", "M"}, {"name", "process_name"}, {"pid", pid},
                      {"args", {{"name", fmt::format("rank {}", r)}}}});
    events.push_back({{"ph", "M"}, {"name", "process_sort_index"}, {"pid", pid},
                      {"args", {{"sort_index", pid}}}});
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", kComputeThread},
                      {"args", {{"name", "compute"}}}});
    events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", kCommThread},
                      {"args", {{"name", "comm"}}}});
    const auto& ops = logs[r].ops;
    std::set<int> workers;
    for (const Op& op : ops)
      if (op.lane > 0 && workers.insert(op.lane).second)
        events.push_back({{"ph", "M"}, {"name", "thread_name"}, {"pid", pid}, {"tid", track(op)},
                          {"args", {{"name", fmt::format("comm worker {}", op.lane)}}}});
    for (std::size_t i = 0; i < ops.size(); ++i) {
      if (is_job_marker(ops[i])) continue;
      const Interval t = when(pid, i);
      events.push_back({{"ph", "X"},
                        {"name", op_name(logs[r], ops[i])},
                        {"cat", to_string(ops[i].kind)},
                        {"pid", pid},
                        {"tid", track(ops[i])},
                        {"ts", t.start * 1e6},
                        {"dur", (t.end - t.start) * 1e6},
                        {"args", op_args(logs[r], ops[i])}});
    }
  }
  std::uint64_t flow = 0;
  for (const Message& m : replay.messages) {
    if (m.recv_op < 0) continue;
    const Interval s = when(m.src, m.send_op);
    const Interval d = when(m.dst, std::size_t(m.recv_op));
    events.push_back({{"ph", "s"}, {"id", flow}, {"name", "message"}, {"cat", "message"},
                      {"pid", m.src}, {"tid", track(logs[m.src].ops[m.send_op])}, {"ts", s.start * 1e6}});
    events.push_back({{"ph", "f"}, {"bp", "e"}, {"id", flow}, {"name", "message"},
                      {"cat", "message"}, {"pid", m.dst}, {"tid", track(logs[m.dst].ops[std::size_t(m.recv_op)])},
                      {"ts", d.start * 1e6}});
    ++flow;
  }
  const json doc = {{"traceEvents", events},
                    {"displayTimeUnit", "ms"},
                    {"otherData",
                     {{"generator", "dtlab"},
                      {"clock", clock == TraceClock::wall ? "wall" : "model"},
                      {"ranks", logs.size()},
                      {"modeled_seconds", replay.makespan}}}};
  return doc.dump();
}

void write_chrome_trace(const std::filesystem::path& path, std::span<const RankLog> logs,
                        const Replay& replay, TraceClock clock) {
  write_file_atomic(path, chrome_trace(logs, replay, clock));
}

}  // namespace dtlab
