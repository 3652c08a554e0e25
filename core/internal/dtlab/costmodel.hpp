// The alpha-beta-gamma cost model and the deterministic replay of op logs under it.
//
// A message of n bytes takes alpha + n*beta; reducing n bytes takes n*gamma; a compute op of f flops
// takes f / flop_rate. Replaying the logs of a run under these rules gives its *modeled time*: a
// number that depends only on what the program sent and computed, never on machine noise, which is
// why the grader can use it. docs/cost-model.md states every rule with its reasons.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dtlab/oplog.hpp"

namespace dtlab {

struct CostModel {
  double alpha = 2e-6;        // seconds per message (latency)
  double beta = 1e-10;        // seconds per byte on a link (1 / bandwidth: 10 GB/s)
  double gamma = 1e-10;       // seconds per byte combined by a reduction (10 GB/s)
  double flop_rate = 5e10;    // flop/s of marked compute (50 GFLOP/s)

  // A TOML file with the four keys (any missing key keeps its default); `dtlab bench pingpong
  // --save-model` writes one measured on this machine.
  static CostModel load(const std::filesystem::path& path);
  void save(const std::filesystem::path& path) const;
  std::string describe() const;
};

// Modeled time of one library collective (or barrier) on p ranks with a payload of n bytes per
// rank (allgather: bytes gathered; reduce_scatter: bytes reduced), priced as the best-known
// algorithm for it: e.g. allreduce = min(recursive doubling, ring).
double collective_cost(std::string_view name, int p, double n, const CostModel& m);

// Closed forms of textbook algorithms, for tests, benchmarks and the problem sets.
double ring_allreduce_cost(int p, double n, const CostModel& m);
double recursive_doubling_allreduce_cost(int p, double n, const CostModel& m);

struct Interval {
  double start = 0;
  double end = 0;
};

// A send matched to its receive. Op indices point into the two ranks' logs.
struct Message {
  int src = 0;
  int dst = 0;
  std::size_t send_op = 0;
  std::int64_t recv_op = -1;  // -1: no rank's log received it
  std::uint64_t bytes = 0;
  double start = 0;  // modeled transfer
  double end = 0;
};

struct Replay {
  double makespan = 0;                         // modeled time of the run: the last rank to finish
  std::vector<double> finish;                  // per rank
  std::vector<std::vector<Interval>> op_times; // modeled start and end of every op of every rank
  std::vector<Message> messages;               // every point-to-point message
};

// Replays the logs of all ranks of one run (logs[r] is rank r). Throws dtlab::Error when the logs
// do not fit together (a receive no log sends, a collective some member never reached).
Replay replay(std::span<const RankLog> logs, const CostModel& model);

}  // namespace dtlab
