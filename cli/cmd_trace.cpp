// dtlab trace: replay an op log under the cost model; write its timeline.
#include <fmt/format.h>

#include <cstdio>

#include "commands.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/oplog.hpp"
#include "dtlab/trace.hpp"

namespace dtlab::cli {

namespace {
struct TraceCmdOptions {
  std::string oplog;
  std::string out;
  std::string clock = "model";
  std::string cost_model;
  double alpha = -1, beta = -1, gamma = -1;
};

int run(const TraceCmdOptions& o) {
  const auto logs = load_oplogs(o.oplog);
  CostModel m = o.cost_model.empty() ? CostModel{} : CostModel::load(o.cost_model);
  if (o.alpha >= 0) m.alpha = o.alpha;
  if (o.beta >= 0) m.beta = o.beta;
  if (o.gamma >= 0) m.gamma = o.gamma;
  const Replay r = replay(logs, m);
  std::printf("%s: %zu ranks, cost model %s\n", o.oplog.c_str(), logs.size(), m.describe().c_str());
  std::printf("%6s %8s %10s %14s %14s %12s\n", "rank", "ops", "messages", "bytes sent",
              "bytes recv", "finish(us)");
  for (std::size_t i = 0; i < logs.size(); ++i) {
    const auto& c = logs[i].counters;
    std::printf("%6zu %8zu %10llu %14llu %14llu %12.2f\n", i, logs[i].ops.size(),
                (unsigned long long)c.messages_sent, (unsigned long long)c.bytes_sent,
                (unsigned long long)c.bytes_received, r.finish[i] * 1e6);
  }
  std::printf("modeled time: %.3f us\n", r.makespan * 1e6);
  if (!o.out.empty()) {
    write_chrome_trace(o.out, logs, r, o.clock == "wall" ? TraceClock::wall : TraceClock::model);
    std::printf("wrote %s (%s clock): open it at https://ui.perfetto.dev\n", o.out.c_str(),
                o.clock.c_str());
  }
  return 0;
}
}  // namespace

void add_trace(CLI::App& app, Command& cmd) {
  auto o = std::make_shared<TraceCmdOptions>();
  auto* c = app.add_subcommand("trace", "Replay an op log (from --oplog) under the cost model; write a timeline");
  cmd.app = c;
  cmd.uses_mpi = false;
  c->add_option("oplog", o->oplog, "Op log JSON written by --oplog")->required()->check(CLI::ExistingFile);
  c->add_option("-o,--output", o->out, "Write a Chrome trace JSON (Perfetto)");
  c->add_option("--clock", o->clock, "model (deterministic) or wall (as measured)")
      ->check(CLI::IsMember({"wall", "model"}));
  c->add_option("--cost-model", o->cost_model, "Cost model TOML")->check(CLI::ExistingFile);
  c->add_option("--alpha", o->alpha, "Override: seconds per message");
  c->add_option("--beta", o->beta, "Override: seconds per byte");
  c->add_option("--gamma", o->gamma, "Override: seconds per byte reduced");
  cmd.run = [o] { return run(*o); };
}

}  // namespace dtlab::cli
