// Lab 01's timing and modeling program, linked with a submission or with the reference.
//
//   lab01_bench time  CASE BYTES...                 seconds per call, best of 3 trials, slowest rank
//   lab01_bench model CASE BYTES ALPHA BETA GAMMA   the op log of one call, replayed
//
// CASE is an allreduce (naive, recursive_doubling, ring, rabenseifner, auto) or one of the other
// collectives (broadcast, reduce, reduce_scatter, allgather): every function the lab asks for has
// its cost checked. Every run first checks its result against the tests' oracle
// (tests/support/lab01_oracle.hpp): a different exact value for every rank and element, so a
// misplaced or missing block is never taken for a right one. main() is the harness's
// (autograder/harness/bench_main.hpp): under the grader the results go in the nonce-marked block,
// otherwise they are printed.
#include <algorithm>
#include <climits>
#include <cstdint>
#include <fmt/format.h>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "dtlab/baseline.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/timing.hpp"
#include "lab01/collectives.hpp"
#include "lab01_oracle.hpp"
#include "bench_main.hpp"

using nlohmann::json;

namespace {

using Data = std::span<float>;

// One collective as the benchmark runs it: the call; what rank r of p must hold at element i of n
// afterwards (nothing where the API leaves it unspecified), given that rank r started with the
// oracle's input(r, n); and the fewest bytes all ranks together send through Comm in any correct
// implementation.
struct Case {
  std::function<void(const dtlab::Comm&, Data)> call;
  std::function<std::optional<float>(int r, int p, std::size_t i, std::size_t n)> expect;
  std::function<std::uint64_t(int p, std::uint64_t bytes)> least_bytes;
};

// The root of broadcast and reduce: the last rank, so that a tree that forgets to count from the
// root goes wrong.
int root_of(int p) { return p - 1; }

// The block (owner) element i of n belongs to, as lab01::block lays them out.
int owner(std::size_t i, std::size_t n, int p) {
  int b = 0;
  while (b + 1 < p && i >= std::size_t(lab01::block(n, p, b + 1).first)) ++b;
  return b;
}

float sum(std::size_t i, int p) { return lab01::oracle::expected_sum<float>(p, i); }

// Each element's p contributions must meet (p - 1 transfers) and the result must reach p - 1 ranks
// (p - 1 more).
std::uint64_t allreduce_bytes(int p, std::uint64_t bytes) { return 2 * std::uint64_t(p - 1) * bytes; }
// Broadcast: every other rank receives the data. Reduce and reduce-scatter: each element's p
// contributions must meet. Allgather: every block reaches the p - 1 other ranks.
std::uint64_t once_per_other_rank(int p, std::uint64_t bytes) { return std::uint64_t(p - 1) * bytes; }

Case allreduce_case(void (*fn)(const dtlab::Comm&, Data)) {
  return {fn, [](int, int p, std::size_t i, std::size_t) -> std::optional<float> { return sum(i, p); },
          allreduce_bytes};
}

const Case& find_case(const std::string& name) {
  static const std::map<std::string, Case> all{
      {"naive", allreduce_case(lab01::allreduce_naive<float>)},
      {"recursive_doubling", allreduce_case(lab01::allreduce_recursive_doubling<float>)},
      {"ring", allreduce_case(lab01::allreduce_ring<float>)},
      {"rabenseifner", allreduce_case(lab01::allreduce_rabenseifner<float>)},
      {"auto", allreduce_case(lab01::allreduce<float>)},
      {"broadcast",
       {[](const dtlab::Comm& c, Data d) { lab01::broadcast(c, d, root_of(c.size())); },
        [](int, int p, std::size_t i, std::size_t) -> std::optional<float> {
          return lab01::oracle::value<float>(root_of(p), i);
        },
        once_per_other_rank}},
      {"reduce",
       {[](const dtlab::Comm& c, Data d) { lab01::reduce(c, d, root_of(c.size())); },
        [](int r, int p, std::size_t i, std::size_t) -> std::optional<float> {
          if (r != root_of(p)) return std::nullopt;
          return sum(i, p);
        },
        once_per_other_rank}},
      {"reduce_scatter",
       {lab01::reduce_scatter<float>,
        [](int r, int p, std::size_t i, std::size_t n) -> std::optional<float> {
          if (owner(i, n, p) != r) return std::nullopt;
          return sum(i, p);
        },
        once_per_other_rank}},
      {"allgather",
       {lab01::allgather<float>,
        [](int, int p, std::size_t i, std::size_t n) -> std::optional<float> {
          return lab01::oracle::value<float>(owner(i, n, p), i);
        },
        once_per_other_rank}}};
  const auto it = all.find(name);
  if (it == all.end())
    throw dtlab::Error("unknown case '" + name +
                       "': expected naive, recursive_doubling, ring, rabenseifner, auto, broadcast, reduce, "
                       "reduce_scatter or allgather");
  return it->second;
}

void fill_input(const dtlab::Comm& c, std::vector<float>& data) {
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = lab01::oracle::value<float>(c.rank(), i);
}

// After one call on fill_input's data: "" when every rank holds what it must, else the first wrong
// element of the lowest rank that has one. Collective.
std::string verify(const dtlab::Comm& c, const Case& k, std::span<const float> data) {
  const int p = c.size(), r = c.rank();
  const std::size_t n = data.size();
  std::size_t bad = n;
  for (std::size_t i = 0; i < n && bad == n; ++i) {
    const auto want = k.expect(r, p, i, n);
    if (want && data[i] != *want) bad = i;
  }
  // Rank and element packed into one number, so that one reduction finds the lowest rank's.
  constexpr int kShift = 40;
  std::int64_t where[1] = {bad == n ? INT64_MAX : (std::int64_t(r) << kShift) + std::int64_t(bad)};
  dtlab::baseline::allreduce(c, std::span<std::int64_t>(where), dtlab::ReduceOp::min);
  if (where[0] == INT64_MAX) return "";
  const int bad_rank = int(where[0] >> kShift);
  const std::size_t i = std::size_t(where[0] & ((std::int64_t(1) << kShift) - 1));
  double got[1] = {r == bad_rank ? double(data[i]) : 0.0};
  dtlab::baseline::allreduce(c, std::span<double>(got), dtlab::ReduceOp::sum);
  return fmt::format("wrong result: rank {} of {} holds {} at element {} of {}, expected {}", bad_rank, p, got[0],
                     i, n, *k.expect(bad_rank, p, i, n));
}

json time_sizes(const dtlab::Comm& c, const Case& k, const std::vector<std::uint64_t>& sizes) {
  json rows = json::array();
  dtlab::OpLog::instance().set_enabled(false);
  for (const std::uint64_t bytes : sizes) {
    std::vector<float> data(bytes / sizeof(float));
    auto once = [&] { k.call(c, Data(data)); };
    fill_input(c, data);
    once();
    const std::string problem = verify(c, k, data);
    std::fill(data.begin(), data.end(), 0.0f);  // repeated sums of zeros neither grow nor overflow
    once();
    // Enough calls per trial for about 30 ms, judged by one call.
    const double probe = dtlab::time_per_call(c, 1, [&](int) { once(); }, 1);
    const std::int64_t iters = std::clamp<std::int64_t>(std::int64_t(0.03 / std::max(probe, 1e-9)), 2, 5000);
    const double best = dtlab::time_per_call(c, int(iters), [&](int) { once(); });
    // Bus bandwidth (NCCL's convention: 2(p-1)/p of the algorithm bandwidth) is the leaderboard's
    // value: GB/s = leaderboard_per_second / seconds.
    const double busbw_seconds = double(bytes) * 2 * (c.size() - 1) / c.size() * 1e-9;
    json row = {{"bytes", bytes}, {"seconds", best}, {"iterations", iters}, {"correct", problem.empty()},
                {"leaderboard_per_second", busbw_seconds}};
    if (!problem.empty()) row["problem"] = problem;
    rows.push_back(row);
  }
  return rows;
}

json model(const dtlab::Comm& c, const Case& k, std::uint64_t bytes, const dtlab::CostModel& m) {
  std::vector<float> data(bytes / sizeof(float));
  auto& log = dtlab::OpLog::instance();
  log.set_enabled(true);
  c.barrier();
  fill_input(c, data);
  log.clear();
  k.call(c, Data(data));
  const auto logs = dtlab::gather_logs();
  log.set_enabled(false);
  const std::string problem = verify(c, k, data);
  if (c.rank() != 0) return {};
  const dtlab::Replay r = dtlab::replay(logs, m);
  std::uint64_t total = 0, max_bytes = 0, max_messages = 0;
  for (const auto& l : logs) {
    total += l.counters.bytes_sent;
    max_bytes = std::max(max_bytes, l.counters.bytes_sent);
    max_messages = std::max(max_messages, l.counters.messages_sent);
  }
  const std::uint64_t least = k.least_bytes(c.size(), bytes);
  json out = {{"bytes", bytes},
              {"correct", problem.empty()},
              {"total_bytes_sent", total},
              {"metrics", {{"modeled_seconds", r.makespan},
                           {"max_rank_bytes_sent", max_bytes},
                           {"max_rank_messages", max_messages}}}};
  if (!problem.empty()) {
    out["problem"] = problem + ": its cost does not count";
  } else if (total < least) {
    out["correct"] = false;
    out["problem"] = fmt::format("all ranks together sent {} bytes through Comm, fewer than any correct "
                                 "implementation can ({}): data must travel through Comm", total, least);
  }
  return out;
}

}  // namespace

nlohmann::json dtlab::harness::bench(const dtlab::Comm& world, const std::vector<std::string>& args) {
  const std::string& mode = args[0];
  if (args.size() < 2) throw dtlab::Error("usage: lab01_bench time CASE BYTES... | model CASE BYTES ALPHA BETA GAMMA");
  const Case& k = find_case(args[1]);
  if (mode == "time" && args.size() >= 3) {
    std::vector<std::uint64_t> sizes;
    for (std::size_t j = 2; j < args.size(); ++j) sizes.push_back(size_arg(args, j));
    return time_sizes(world, k, sizes);
  }
  if (mode == "model" && args.size() == 6) return model(world, k, size_arg(args, 2), cost_model_args(args, 3));
  throw dtlab::Error("usage: lab01_bench time CASE BYTES... | model CASE BYTES ALPHA BETA GAMMA");
}
