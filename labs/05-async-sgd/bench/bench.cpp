// Lab 05's timing and modeling program, linked with a submission or with the reference.
//
//   lab05_bench time  hogwild/T D...          seconds per epoch of Hogwild! with T threads on the
//                                             sparse logistic regression with D coordinates (D/5
//                                             samples of 16 features; the fastest of 5
//                                             epochs: each takes only 40 ms, so one may
//                                             fall in a busy moment of the machine)
//   lab05_bench time  locked/T D...           the same loop under the lock, for comparison
//   lab05_bench time  mlp-hogwild/T B          seconds per epoch of Hogwild! with T threads on
//   lab05_bench time  mlp-locked/T B           dtlab's MLP, Fashion-MNIST, mini-batches of B: the
//                                             dense problem, where every step touches every
//                                             parameter (one epoch from the same start, lr 0.05)
//   lab05_bench consensus ring|torus STEPS     gossip's consensus distance after each of STEPS
//                                             mixing steps from distinct values, next to
//                                             lambda_2^t times the start
//   lab05_bench model gossip/ring N ALPHA BETA GAMMA [TRACE.json]
//   lab05_bench model gossip/torus N ...      one mixing step of N floats on every rank, its op
//                                             log replayed under the cost model
//
// Each result is checked first: Hogwild's loss must fall, the mixing step must be W x within the
// tests' bound. main() is the harness's.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "bench_main.hpp"
#include "dtlab/baseline.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/error.hpp"
#include "dtlab/data.hpp"
#include "lab05/problems.hpp"
#include "lab05_oracles.hpp"

using nlohmann::json;
using dtlab::Comm;

namespace {

json time_hogwild(const std::string& kind, const std::vector<std::uint64_t>& sizes) {
  dtlab::OpLog::instance().set_enabled(false);
  int threads = 0;
  char mode[16] = {};
  if (std::sscanf(kind.c_str(), "%15[a-z]/%d", mode, &threads) != 2 || threads < 1 ||
      (std::string(mode) != "hogwild" && std::string(mode) != "locked"))
    throw dtlab::Error(fmt::format("'{}': expected hogwild/T or locked/T with T >= 1 threads", kind));
  const bool locked = std::string(mode) == "locked";
  json rows = json::array();
  for (const std::uint64_t dim : sizes) {
    const lab05::SparseLogistic problem({.samples = std::max<std::size_t>(dim / 5, 1), .dim = dim, .nnz = 16, .seed = 1});
    std::vector<float> w(dim, 0.0f);
    const double before = problem.loss(w);
    double best = INFINITY;
    bool ran = true;
    for (int e = 0; e < 5 && ran; ++e) {
      try {
        const lab05::HogwildReport r =
            lab05::hogwild(problem, w, {.threads = threads, .epochs = 1, .lr = 1.0, .locked = locked, .seed = std::uint64_t(e)});
        best = std::min(best, r.seconds);
      } catch (const std::exception& ex) {
        fmt::print(stderr, "{}\n", ex.what());
        ran = false;
      }
    }
    const double after = problem.loss(w);
    const bool correct = ran && after < 0.9 * before;
    json row = {{"bytes", dim},
                {"seconds", correct ? best : 0.0},
                {"correct", correct},
                {"leaderboard_per_second", 1.0},  // epochs per second
                {"note", fmt::format("{} threads{}, {} samples of 16 of {} features: {:.1f} ms per epoch, loss {:.5f} -> {:.5f}",
                                     threads, locked ? " under one lock" : " without locks", problem.steps(), dim,
                                     correct ? best * 1e3 : 0.0, before, after)}};
    if (!correct) row["problem"] = "five epochs did not bring the loss below 90% of its start";
    rows.push_back(row);
  }
  return rows;
}

json time_mlp(const std::string& kind, const std::vector<std::uint64_t>& batches) {
  dtlab::OpLog::instance().set_enabled(false);
  int threads = 0;
  char mode[16] = {};
  if (std::sscanf(kind.c_str(), "mlp-%15[a-z]/%d", mode, &threads) != 2 || threads < 1 ||
      (std::string(mode) != "hogwild" && std::string(mode) != "locked"))
    throw dtlab::Error(fmt::format("'{}': expected mlp-hogwild/T or mlp-locked/T with T >= 1 threads", kind));
  const bool locked = std::string(mode) == "locked";
  const dtlab::DataSplit data = dtlab::load_fashion_mnist(dtlab::default_fashion_mnist_dir());
  json rows = json::array();
  for (const std::uint64_t batch : batches) {
    const dtlab::MlpConfig config;
    const lab05::MlpProblem problem(config, data.train, std::int64_t(batch));
    dtlab::Mlp model(config);
    model.init(1);
    std::vector<float> w(model.params().begin(), model.params().end());
    const lab05::HogwildReport r =
        lab05::hogwild(problem, w, {.threads = threads, .epochs = 1, .lr = 0.05, .locked = locked, .seed = 1});
    std::copy(w.begin(), w.end(), model.params().begin());
    std::vector<float> x(std::size_t(data.test.size * data.test.features));
    std::vector<std::int32_t> y(std::size_t(data.test.size));
    data.test.slice(0, data.test.size, x, y);
    const dtlab::Mlp::Eval e = model.evaluate(x, y);
    const double accuracy = double(e.correct) / double(data.test.size);
    rows.push_back({{"bytes", batch},
                    {"seconds", r.seconds},
                    {"correct", true},
                    {"test_accuracy", accuracy},
                    {"note", fmt::format("MLP {}, {} threads{}, batches of {}: {:.2f} s per epoch, test accuracy {:.2f}%",
                                         config.describe(), threads, locked ? " under one lock" : " without locks", batch,
                                         r.seconds, 100 * accuracy)}});
  }
  return rows;
}

json consensus(const Comm& world, const std::string& topology, std::uint64_t steps) {
  const lab05::Topology t = lab05::parse_topology(topology);
  constexpr std::size_t n = 64;
  std::vector<float> x = lab05::test::gossip_values(world.rank(), n);
  std::vector<double> d = {lab05::test::consensus_distance(lab05::test::gather_all(world, x))};
  for (std::uint64_t s = 0; s < steps; ++s) {
    lab05::gossip_mix(world, t, x);
    d.push_back(lab05::test::consensus_distance(lab05::test::gather_all(world, x)));
  }
  const double lambda = lab05::test::second_eigenvalue(lab05::test::mixing_matrix(t, world.size()));
  json theory = json::array();
  for (std::uint64_t s = 0; s <= steps; ++s) theory.push_back(d[0] * std::pow(lambda, double(s)));
  // The measured rate: the geometric mean of d_{t+1} / d_t over the last ten steps that stay well
  // above float rounding (1e-4 of the start), where the slowest mode is all that is left.
  std::size_t last = 0;
  while (last + 1 < d.size() && d[last + 1] > 1e-4 * d[0]) ++last;
  const std::size_t first = last >= 10 ? last - 10 : 0;
  const double rate = last > first ? std::pow(d[last] / d[first], 1.0 / double(last - first)) : 0.0;
  const lab05::TorusShape shape = lab05::torus_shape(world.size());
  return {{"topology", topology},
          {"ranks", world.size()},
          {"shape", t == lab05::Topology::torus ? fmt::format("{} x {}", shape.rows, shape.cols) : "ring"},
          {"lambda2", lambda},
          {"distance", d},
          {"lambda2_power_times_start", theory},
          {"measured_rate", rate},
          {"rate_steps", {first, last}},
          {"note", fmt::format("{} of {} ranks: lambda_2 = {:.4f}, measured rate {:.4f} per step (steps {} to {}); "
                               "consensus distance {:.3g} -> {:.3g} after {} steps (at most lambda_2^t d_0 = {:.3g})",
                               topology, world.size(), lambda, rate, first, last, d.front(), d.back(), steps,
                               theory.back().get<double>())}};
}

json model_gossip(const Comm& world, const std::string& kind, std::uint64_t n, const dtlab::CostModel& cm,
                  const std::string& trace) {
  if (kind != "gossip/ring" && kind != "gossip/torus")
    throw dtlab::Error(fmt::format("'{}': expected gossip/ring or gossip/torus", kind));
  const lab05::Topology t = lab05::parse_topology(kind.substr(7));
  std::vector<float> x = lab05::test::gossip_values(world.rank(), n);
  const auto before = lab05::test::gather_all(world, x);
  auto& log = dtlab::OpLog::instance();
  log.set_enabled(true);
  world.barrier();
  log.clear();
  bool ran = true;
  try {
    lab05::gossip_mix(world, t, x);
  } catch (const std::exception& e) {
    fmt::print(stderr, "rank {}: {}\n", world.rank(), e.what());
    ran = false;
  }
  log.set_enabled(false);
  auto logs = dtlab::gather_logs();
  std::int32_t all[1] = {ran};
  dtlab::baseline::allreduce(world, std::span<std::int32_t>(all), dtlab::ReduceOp::min);
  const auto after = lab05::test::gather_all(world, x);
  if (world.rank() != 0) return {};
  // Correct: every element W x within the tests' rounding bound.
  const int p = world.size();
  const auto W = lab05::test::mixing_matrix(t, p);
  bool correct = all[0] == 1;
  const int d = int(std::count_if(W[0].begin(), W[0].end(), [](double w) { return w > 0; })) - 1;
  for (int r = 0; r < p && correct; ++r)
    for (std::size_t k = 0; k < n && correct; ++k) {
      double want = 0;
      for (int j = 0; j < p; ++j) want += W[std::size_t(r)][std::size_t(j)] * before[std::size_t(j)][k];
      correct = std::abs(after[std::size_t(r)][k] - want) <= lab05::test::mix_bound(d, 4.0);  // |x| <= 4
    }
  const dtlab::Replay r = dtlab::harness::replay_lab_traffic(logs, cm, trace);  // without the check's gathers
  // Every neighbour's message at once: the d messages of N floats leave over the rank's one link,
  // one after another: alpha + d N beta (the average is not marked as compute, so no gamma).
  const double bytes = 4.0 * double(n);
  const double formula = cm.alpha + d * bytes * cm.beta;
  json out = {{"bytes", n},
              {"correct", correct},
              {"metrics", {{"modeled_seconds", r.makespan}}},
              {"formula_seconds", formula},
              {"ring_allreduce_seconds", dtlab::ring_allreduce_cost(p, bytes, cm)},
              {"note", fmt::format("{} of {} ranks, {} floats: a mixing step takes {:.3f} ms modeled; alpha + d N beta is"
                                   " {:.3f} ms (d = {}), a ring allreduce of the same vector {:.3f} ms",
                                   kind.substr(7), p, n, r.makespan * 1e3, formula * 1e3, d,
                                   dtlab::ring_allreduce_cost(p, bytes, cm) * 1e3)}};
  if (!correct) out["problem"] = "the mixed vector is not W x, so its cost does not count";
  return out;
}

}  // namespace

nlohmann::json dtlab::harness::bench(const Comm& world, const std::vector<std::string>& args) {
  const std::string& mode = args[0];
  const std::string& kind = args.size() > 1 ? args[1] : "";
  if (mode == "time" && args.size() >= 3) {
    std::vector<std::uint64_t> sizes;
    for (std::size_t k = 2; k < args.size(); ++k) sizes.push_back(size_arg(args, k));
    if (world.size() != 1) throw dtlab::Error("lab05_bench time: Hogwild! runs on threads of one process: run it on 1 rank");
    return kind.starts_with("mlp-") ? time_mlp(kind, sizes) : time_hogwild(kind, sizes);
  }
  if (mode == "consensus" && args.size() == 3) return consensus(world, kind, size_arg(args, 2));
  if (mode == "model" && (args.size() == 6 || args.size() == 7))
    return model_gossip(world, kind, size_arg(args, 2), cost_model_args(args, 3), args.size() == 7 ? args[6] : "");
  throw dtlab::Error(
      "usage: lab05_bench time hogwild/T|locked/T DIM... | time mlp-hogwild/T|mlp-locked/T BATCH... | consensus "
      "ring|torus STEPS | model gossip/ring|gossip/torus FLOATS ALPHA BETA GAMMA [TRACE.json]");
}
