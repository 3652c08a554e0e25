#include <fmt/format.h>

#include "dtlab/program/outputs.hpp"
#include "dtlab/comm.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/io.hpp"
#include "dtlab/trace.hpp"

namespace dtlab::program {

void TraceOptions::add(CLI::App* app) {
  app->add_option("--trace", trace, "Write a timeline of every rank (Chrome trace JSON for Perfetto)");
  app->add_option("--trace-clock", clock, "Timeline clock: wall (measured) or model (cost model)")
      ->check(CLI::IsMember({"wall", "model"}));
  app->add_option("--oplog", oplog, "Write every rank's op log (JSON), for `dtlab trace`");
  app->add_option("--cost-model", cost_model,
                  "Cost model TOML for modeled times (see `dtlab bench pingpong --save-model`)")
      ->check(CLI::ExistingFile);
}

double write_trace_outputs(const TraceOptions& opt) {
  if (!opt.wanted()) return 0;
  const auto logs = gather_logs();
  if (logs.empty()) return 0;  // not rank 0
  const CostModel model = opt.cost_model.empty() ? CostModel{} : CostModel::load(opt.cost_model);
  const Replay r = replay(logs, model);
  if (!opt.oplog.empty()) save_oplogs(opt.oplog, logs);
  if (!opt.trace.empty())
    write_chrome_trace(opt.trace, logs, r, opt.clock == "model" ? TraceClock::model : TraceClock::wall);
  return r.makespan;
}

void write_json_file(const std::string& path, const std::string& text) {
  write_file_atomic(path, text + "\n");
}

}  // namespace dtlab::program
