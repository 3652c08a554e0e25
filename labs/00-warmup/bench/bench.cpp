// Lab 00's measuring program, linked with a submission or with the reference.
//
//   lab00_bench match pingpong BYTES    ping-pong over 1, 2, 4, ... BYTES bytes between ranks 0 and 1,
//                                       then the fit: alpha (s) and beta (s/B)
//
// The grader runs it alternately with the reference's and compares the medians of alpha and beta
// (a `match` item). main() is the harness's (autograder/harness/bench_main.hpp): under the grader
// the results go in the nonce-marked block, otherwise they are printed, with every sample.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "bench_main.hpp"
#include "dtlab/error.hpp"
#include "lab00/warmup.hpp"

using nlohmann::json;

namespace {

// Round trips timed per size: enough for a stable median, few enough that a sweep to 4 MiB takes
// well under a second on shared memory.
constexpr int kRepetitions = 50;

// Whether the fitted line is one a machine can have, or "" when it is.
std::string implausible(const lab00::LineFit& fit) {
  if (!std::isfinite(fit.alpha) || !std::isfinite(fit.beta))
    return fmt::format("the fit gave alpha = {} s and beta = {} s/B: not finite numbers", fit.alpha, fit.beta);
  if (fit.alpha < 0 || fit.beta < 0)
    return fmt::format("the fit gave alpha = {:.3g} s and beta = {:.3g} s/B: a message cannot take negative time "
                       "(is every sample a positive one-way time, and the fit the one of the handout?)",
                       fit.alpha, fit.beta);
  return "";
}

json match_pingpong(const dtlab::Comm& world, std::uint64_t max_bytes) {
  std::vector<std::uint64_t> sizes;
  for (std::uint64_t b = 1; b <= max_bytes; b *= 2) sizes.push_back(b);
  const auto samples = lab00::pingpong(world, sizes, kRepetitions);
  if (world.rank() != 0) return {};
  json rows = json::array();
  for (const auto& s : samples) rows.push_back({{"bytes", s.bytes}, {"seconds", s.seconds}});
  json out = {{"max_bytes", max_bytes}, {"samples", rows}};
  if (samples.size() != sizes.size()) {
    out["correct"] = false;
    out["problem"] = fmt::format("pingpong returned {} samples on rank 0 for {} sizes", samples.size(), sizes.size());
    return out;
  }
  lab00::LineFit fit;
  try {
    fit = lab00::fit_alpha_beta(samples);
  } catch (const dtlab::Error& e) {  // rank 0 alone: report it rather than abort the job
    out["correct"] = false;
    out["problem"] = fmt::format("fit_alpha_beta failed on the ping-pong's samples: {}", e.what());
    return out;
  }
  out["metrics"] = {{"alpha", fit.alpha}, {"beta", fit.beta}};
  const std::string problem = implausible(fit);
  out["correct"] = problem.empty();
  if (!problem.empty()) out["problem"] = problem;
  return out;
}

}  // namespace

nlohmann::json dtlab::harness::bench(const dtlab::Comm& world, const std::vector<std::string>& args) {
  if (args.size() != 3 || args[0] != "match" || args[1] != "pingpong")
    throw dtlab::Error("usage: lab00_bench match pingpong BYTES");
  const std::uint64_t max_bytes = size_arg(args, 2);
  if (max_bytes == 0) throw dtlab::Error("BYTES must be at least 1");
  return match_pingpong(world, max_bytes);
}
