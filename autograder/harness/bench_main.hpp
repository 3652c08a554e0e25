// The main of every lab's benchmark program (labs/NN-name/bench/bench.cpp): the program defines
// bench(), and this library starts the runtime, checks the world size against the grader's
// request and reports what bench() returns (docs/grader.md states the modes and their results).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "dtlab/comm.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/oplog.hpp"

namespace dtlab::harness {

// Defined by the lab: runs mode args[0] (time, model or match) on case args[1] with the rest of the
// arguments, on every rank, and returns the results rank 0 reports (other ranks' are ignored).
nlohmann::json bench(const Comm& world, const std::vector<std::string>& args);

// Helpers for bench(): argument k as a size, and a cost model from arguments k, k+1, k+2 (alpha,
// beta, gamma), each with an error naming the argument when it is not a number.
std::uint64_t size_arg(const std::vector<std::string>& args, std::size_t k);
CostModel cost_model_args(const std::vector<std::string>& args, std::size_t k);

// The logs replayed under cm without the library collectives in them: those are the benchmark's
// own checks (a result gathered and compared), not the traffic of the code measured. Writes a
// timeline of the replay to trace unless it is empty. Changes logs.
Replay replay_lab_traffic(std::vector<RankLog>& logs, const CostModel& cm, const std::string& trace);

}  // namespace dtlab::harness
