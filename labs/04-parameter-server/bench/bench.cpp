// Lab 04's timing and modeling program, linked with a submission or with the reference.
//
//   lab04_bench time  bsp/S N...                    seconds per BSP clock of a job of S servers and
//                                                   the other ranks as workers, on a model of N keys
//                                                   (fastest of 3 trials of 10 clocks)
//   lab04_bench model bsp/S N ALPHA BETA GAMMA [TRACE.json]
//                                                   one BSP clock (pull, push) of that job, its op
//                                                   log replayed under the cost model
//
// The workers' gradient is a cheap fill, so that what is timed is the parameter server: the
// messages, the merge and the optimizer step. Each result is checked first: after the clocks, the
// model must be synchronous SGD's, to the bit (the gradients are small integers, so any order of
// summing gives the same bits). main() is the harness's.
#include <fmt/format.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "bench_main.hpp"
#include "dtlab/baseline.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/error.hpp"
#include "lab04/parameter_server.hpp"

using nlohmann::json;
using dtlab::Comm;

namespace {

// g[k] = (k + w + c) mod 3 - 1, integers: sums are exact in any order.
float gradient(std::size_t k, int w, std::int64_t c) { return float(std::int64_t(k + std::size_t(w) + std::size_t(c)) % 3 - 1); }

struct Job {
  Comm comm;
  lab04::Roles roles;
  std::size_t n;
};

// Runs `clocks` BSP clocks of plain SGD at learning rate 1 from zeros; returns whether the
// assembled model is minus the sum of the mean pushes, on every rank.
bool run(const Job& job, std::int64_t clocks) {
  std::vector<float> zeros(job.n, 0.0f), assembled(job.n, 0.0f);
  bool ok = true;
  try {
    if (job.roles.is_server(job.comm.rank())) {
      lab04::Server server(job.comm, job.roles, zeros,
                           {.optimizer = {.name = "sgd", .momentum = 0}, .lr = [](std::int64_t) { return 1.0; }});
      server.run();
      std::copy(server.params().begin(), server.params().end(), assembled.begin() + std::ptrdiff_t(server.range().begin));
    } else {
      const int w = job.roles.worker_of(job.comm.rank());
      lab04::Worker worker(job.comm, job.roles, job.n);
      std::vector<float> params(job.n), grads(job.n);
      for (std::int64_t c = 0; c < clocks; ++c) {
        worker.pull(params);
        for (std::size_t k = 0; k < job.n; ++k) grads[k] = gradient(k, w, c);
        worker.push(grads);
      }
      worker.finish();
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "rank {}: {}\n", job.comm.rank(), e.what());
    ok = false;
  }
  dtlab::baseline::allreduce(job.comm, std::span<float>(assembled));
  for (std::size_t k = 0; k < job.n && ok; ++k) {
    double want = 0;
    for (int w = 0; w < job.roles.workers; ++w)
      for (std::int64_t c = 0; c < clocks; ++c) want -= double(gradient(k, w, c)) / job.roles.workers;
    ok = double(assembled[k]) == want;
  }
  std::int32_t all[1] = {ok};
  dtlab::baseline::allreduce(job.comm, std::span<std::int32_t>(all), dtlab::ReduceOp::min);
  return all[0] == 1;
}

Job make_job(const Comm& world, const std::string& kind, std::size_t n) {
  int servers = 0;
  if (std::sscanf(kind.c_str(), "bsp/%d", &servers) != 1 || servers < 1 || servers >= world.size())
    throw dtlab::Error(fmt::format("'{}': expected bsp/S with 1 <= S < {} (the ranks)", kind, world.size()));
  return {world, lab04::make_roles(world, servers), n};
}

constexpr std::int64_t kTimedClocks = 10;

json time_clocks(const Comm& world, const std::string& kind, const std::vector<std::uint64_t>& sizes) {
  dtlab::OpLog::instance().set_enabled(false);
  json rows = json::array();
  for (const std::uint64_t n : sizes) {
    const Job job = make_job(world, kind, n);
    const bool correct = run(job, 2);
    double best = INFINITY;
    for (int trial = 0; trial < 3 && correct; ++trial) {
      world.barrier();
      const double t0 = dtlab::steady_seconds();
      run(job, kTimedClocks);
      double took[1] = {dtlab::steady_seconds() - t0};
      dtlab::baseline::allreduce(world, std::span<double>(took), dtlab::ReduceOp::max);
      best = std::min(best, took[0] / kTimedClocks);
    }
    json row = {{"bytes", n},
                {"seconds", correct ? best : 0.0},
                {"correct", correct},
                {"leaderboard_per_second", 1.0},  // clocks per second
                {"note", fmt::format("{} servers, {} workers, {} keys: {:.2f} ms per BSP clock", job.roles.servers,
                                     job.roles.workers, n, correct ? best * 1e3 : 0.0)}};
    if (!correct) row["problem"] = "after 2 clocks the model is not synchronous SGD's (see the messages above)";
    rows.push_back(row);
  }
  return rows;
}

json model_clock(const Comm& world, const std::string& kind, std::uint64_t n, const dtlab::CostModel& cm,
                 const std::string& trace) {
  const Job job = make_job(world, kind, n);
  auto& log = dtlab::OpLog::instance();
  log.set_enabled(true);
  world.barrier();
  log.clear();
  const bool correct = run(job, 1);
  auto logs = dtlab::gather_logs();
  log.set_enabled(false);
  if (world.rank() != 0) return {};
  // The job's own allreduces (the check) are not the server's.
  const dtlab::Replay r = dtlab::harness::replay_lab_traffic(logs, cm, trace);
  const int S = job.roles.servers, W = job.roles.workers;
  const double bytes = 4.0 * double(n);
  // A worker's link carries the model in (its pull), then out (its push): 2 N. A server's out-link
  // sends its range to the W workers one after another, so the last worker has its pull after
  // W N / S, and then pushes N: (1 + W / S) N. (Exact when every server answers the workers in the
  // same order; the replay may find a worse order.)
  const double formula = std::max(2.0, 1.0 + double(W) / S) * bytes * cm.beta;
  const double ring = dtlab::ring_allreduce_cost(W, bytes, cm);
  json out = {{"bytes", n},
              {"correct", correct},
              {"metrics", {{"modeled_seconds", r.makespan}}},
              {"formula_seconds", formula},
              {"ring_allreduce_seconds", ring},
              {"note", fmt::format("{} servers, {} workers, {} keys: a BSP clock takes {:.3f} ms modeled; the bandwidth "
                                   "term max(2, 1 + W/S) N beta is {:.3f} ms, a ring allreduce of the same gradients on "
                                   "the {} workers {:.3f} ms",
                                   S, W, n, r.makespan * 1e3, formula * 1e3, W, ring * 1e3)}};
  if (!correct) out["problem"] = "after the clock the model is not synchronous SGD's, so its cost does not count";
  return out;
}

}  // namespace

nlohmann::json dtlab::harness::bench(const Comm& world, const std::vector<std::string>& args) {
  const std::string& mode = args[0];
  const std::string& kind = args.size() > 1 ? args[1] : "";
  if (mode == "time" && args.size() >= 3) {
    std::vector<std::uint64_t> sizes;
    for (std::size_t k = 2; k < args.size(); ++k) sizes.push_back(size_arg(args, k));
    return time_clocks(world, kind, sizes);
  }
  if (mode == "model" && (args.size() == 6 || args.size() == 7))
    return model_clock(world, kind, size_arg(args, 2), cost_model_args(args, 3), args.size() == 7 ? args[6] : "");
  throw dtlab::Error("usage: lab04_bench time bsp/S KEYS... | model bsp/S KEYS ALPHA BETA GAMMA [TRACE.json]");
}
