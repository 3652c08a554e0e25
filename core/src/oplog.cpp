#include "dtlab/oplog.hpp"

#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dtlab/error.hpp"
#include "dtlab/io.hpp"
#include "oplog_json.hpp"

namespace dtlab {

using nlohmann::json;

std::string_view to_string(OpKind kind) {
  switch (kind) {
    case OpKind::send: return "send";
    case OpKind::recv: return "recv";
    case OpKind::sendrecv: return "sendrecv";
    case OpKind::isend: return "isend";
    case OpKind::irecv: return "irecv";
    case OpKind::wait: return "wait";
    case OpKind::collective: return "collective";
    case OpKind::compute: return "compute";
    case OpKind::job_post: return "job_post";
    case OpKind::job_begin: return "job_begin";
    case OpKind::job_end: return "job_end";
  }
  return "?";
}

static OpKind op_kind_from(std::string_view s) {
  for (int k = 0; k <= static_cast<int>(OpKind::job_end); ++k)
    if (to_string(static_cast<OpKind>(k)) == s) return static_cast<OpKind>(k);
  throw Error(fmt::format("unknown op kind '{}'", s));
}

const CommInfo& RankLog::comm_info(std::uint64_t id) const {
  for (const auto& c : comms)
    if (c.id == id) return c;
  throw Error(fmt::format("rank {}'s log uses communicator {} but does not describe it", rank, id));
}

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

OpLog::OpLog() : epoch_(steady_seconds()) {}

OpLog& OpLog::instance() {
  static OpLog log;
  return log;
}

double OpLog::now() const { return steady_seconds() - epoch_; }
void OpLog::reset_epoch() { epoch_ = steady_seconds(); }

void OpLog::set_identity(int rank, int world_size) {
  log_.rank = rank;
  log_.world_size = world_size;
}

namespace {
thread_local std::uint8_t t_lane = 0;
}
void OpLog::set_thread_lane(std::uint8_t lane) { t_lane = lane; }
std::uint8_t OpLog::thread_lane() { return t_lane; }

void OpLog::clear() {
  std::lock_guard lock(mu_);
  log_.ops.clear();
  log_.wait_ids.clear();
  log_.counters = {};
}

std::uint16_t OpLog::intern(std::string_view label) {
  std::lock_guard lock(mu_);
  for (std::size_t i = 0; i < log_.labels.size(); ++i)
    if (log_.labels[i] == label) return static_cast<std::uint16_t>(i);
  if (log_.labels.size() >= 65535) throw Error("op log: more than 65535 distinct labels");
  log_.labels.emplace_back(label);
  return static_cast<std::uint16_t>(log_.labels.size() - 1);
}

std::int64_t OpLog::append(Op op) {
  std::lock_guard lock(mu_);
  if (!enabled_) return -1;
  op.lane = t_lane;
  log_.ops.push_back(op);
  return static_cast<std::int64_t>(log_.ops.size()) - 1;
}

void OpLog::update(std::int64_t index, const std::function<void(Op&)>& change) {
  std::lock_guard lock(mu_);
  if (index >= 0 && index < static_cast<std::int64_t>(log_.ops.size())) change(log_.ops[index]);
}

std::int64_t OpLog::next_request_id() {
  std::lock_guard lock(mu_);
  return next_request_++;
}

void OpLog::count_sent(std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  log_.counters.messages_sent += 1;
  log_.counters.bytes_sent += bytes;
}

void OpLog::count_received(std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  log_.counters.messages_received += 1;
  log_.counters.bytes_received += bytes;
}

void OpLog::count_collective(std::uint64_t bytes) {
  std::lock_guard lock(mu_);
  log_.counters.collectives += 1;
  log_.counters.collective_bytes += bytes;
}

std::int64_t OpLog::add_wait_ids(std::span<const std::int64_t> ids) {
  std::lock_guard lock(mu_);
  const auto first = static_cast<std::int64_t>(log_.wait_ids.size());
  if (enabled_) log_.wait_ids.insert(log_.wait_ids.end(), ids.begin(), ids.end());
  return first;
}

void OpLog::register_comm(CommInfo info) {
  std::lock_guard lock(mu_);
  for (const auto& c : log_.comms)
    if (c.id == info.id) return;
  log_.comms.push_back(std::move(info));
}

ComputeScope::ComputeScope(std::string_view label, double flops, std::uint64_t reduce_bytes)
    : label_(OpLog::instance().intern(label)),
      flops_(flops),
      reduce_bytes_(reduce_bytes),
      start_(OpLog::instance().now()) {}

ComputeScope::~ComputeScope() {
  auto& log = OpLog::instance();
  Op op{.kind = OpKind::compute, .label = label_, .reduce_bytes = reduce_bytes_, .flops = flops_};
  op.t_start = start_;
  op.t_end = log.now();
  log.append(op);
}

// ---- JSON form: one object per op, default fields left out so that a log stays readable ----

static json op_to_json(const Op& op) {
  json j = {{"kind", to_string(op.kind)}};
  const Op d{};
  if (op.label != d.label || op.kind == OpKind::collective || op.kind == OpKind::compute)
    j["label"] = op.label;
  if (op.comm != d.comm) j["comm"] = op.comm;
  if (op.peer != d.peer) j["peer"] = op.peer;
  if (op.tag != d.tag) j["tag"] = op.tag;
  if (op.bytes != d.bytes) j["bytes"] = op.bytes;
  if (op.recv_peer != d.recv_peer) j["recv_peer"] = op.recv_peer;
  if (op.recv_tag != d.recv_tag) j["recv_tag"] = op.recv_tag;
  if (op.recv_bytes != d.recv_bytes) j["recv_bytes"] = op.recv_bytes;
  if (op.root != d.root) j["root"] = op.root;
  if (op.request != d.request) j["request"] = op.request;
  if (op.nwait != d.nwait) j["nwait"] = op.nwait;
  if (op.reduce_bytes != d.reduce_bytes) j["reduce_bytes"] = op.reduce_bytes;
  if (op.flops != d.flops) j["flops"] = op.flops;
  if (op.lane != d.lane) j["lane"] = op.lane;
  j["t"] = {op.t_start, op.t_end};
  return j;
}

static Op op_from_json(const json& j) {
  Op op;
  op.kind = op_kind_from(j.at("kind").get<std::string>());
  op.label = j.value("label", op.label);
  op.comm = j.value("comm", op.comm);
  op.peer = j.value("peer", op.peer);
  op.tag = j.value("tag", op.tag);
  op.bytes = j.value("bytes", op.bytes);
  op.recv_peer = j.value("recv_peer", op.recv_peer);
  op.recv_tag = j.value("recv_tag", op.recv_tag);
  op.recv_bytes = j.value("recv_bytes", op.recv_bytes);
  op.root = j.value("root", op.root);
  op.request = j.value("request", op.request);
  op.nwait = j.value("nwait", op.nwait);
  op.reduce_bytes = j.value("reduce_bytes", op.reduce_bytes);
  op.flops = j.value("flops", op.flops);
  op.lane = j.value("lane", op.lane);
  const auto& t = j.at("t");
  op.t_start = t.at(0).get<double>();
  op.t_end = t.at(1).get<double>();
  return op;
}

json to_json(const RankLog& log) {
  json comms = json::array();
  for (const auto& c : log.comms) comms.push_back({{"id", c.id}, {"world_ranks", c.world_ranks}});
  json ops = json::array();
  for (const auto& op : log.ops) ops.push_back(op_to_json(op));
  const auto& ct = log.counters;
  return {{"rank", log.rank},
          {"world_size", log.world_size},
          {"labels", log.labels},
          {"comms", comms},
          {"wait_ids", log.wait_ids},
          {"counters",
           {{"messages_sent", ct.messages_sent},
            {"bytes_sent", ct.bytes_sent},
            {"messages_received", ct.messages_received},
            {"bytes_received", ct.bytes_received},
            {"collectives", ct.collectives},
            {"collective_bytes", ct.collective_bytes}}},
          {"ops", ops}};
}

RankLog rank_log_from_json(const json& j) {
  RankLog log;
  log.rank = j.at("rank").get<int>();
  log.world_size = j.at("world_size").get<int>();
  log.labels = j.at("labels").get<std::vector<std::string>>();
  for (const auto& c : j.at("comms"))
    log.comms.push_back({c.at("id").get<std::uint64_t>(), c.at("world_ranks").get<std::vector<int>>()});
  log.wait_ids = j.at("wait_ids").get<std::vector<std::int64_t>>();
  const auto& ct = j.at("counters");
  log.counters = {ct.at("messages_sent"), ct.at("bytes_sent"), ct.at("messages_received"),
                  ct.at("bytes_received"), ct.at("collectives"), ct.at("collective_bytes")};
  for (const auto& o : j.at("ops")) {
    Op op = op_from_json(o);
    if (op.label >= log.labels.size() && (op.kind == OpKind::collective || op.kind == OpKind::compute))
      throw Error(fmt::format("rank {}: op label {} is not in its label table", log.rank, op.label));
    log.ops.push_back(op);
  }
  return log;
}

void save_oplogs(const std::filesystem::path& path, std::span<const RankLog> logs) {
  json j = {{"format", "dtlab-oplog"}, {"version", 1}, {"ranks", json::array()}};
  for (const auto& l : logs) j["ranks"].push_back(to_json(l));
  write_file_atomic(path, j.dump());
}

std::vector<RankLog> load_oplogs(const std::filesystem::path& path) {
  const std::string text = read_file(path);
  std::vector<RankLog> logs;
  try {
    const json j = json::parse(text);
    if (j.value("format", "") != "dtlab-oplog")
      throw Error("it has no \"format\": \"dtlab-oplog\" field");
    for (const auto& r : j.at("ranks")) logs.push_back(rank_log_from_json(r));
  } catch (const std::exception& e) {
    throw Error(fmt::format("{}: not a dtlab op log: {}", path.string(), e.what()));
  }
  for (std::size_t r = 0; r < logs.size(); ++r)
    if (logs[r].rank != static_cast<int>(r) || logs[r].world_size != static_cast<int>(logs.size()))
      throw Error(fmt::format("{}: entry {} is rank {} of {}; expected rank {} of {}", path.string(),
                              r, logs[r].rank, logs[r].world_size, r, logs.size()));
  return logs;
}

}  // namespace dtlab
