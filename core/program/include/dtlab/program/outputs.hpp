// What every dtlab program writes the same way: the op log of a run as a timeline and as a raw log
// (--trace, --oplog), and JSON results (--json).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace dtlab::program {

struct TraceOptions {
  std::string trace;         // Chrome trace JSON
  std::string clock = "wall";
  std::string oplog;         // dtlab op log JSON
  std::string cost_model;    // TOML; defaults when empty
  void add(CLI::App* app);
  bool wanted() const { return !trace.empty() || !oplog.empty(); }
};

// Collective: gathers the op logs on rank 0 and writes what was asked for. Returns the modeled
// time (rank 0 only; 0 elsewhere or when nothing was asked for).
double write_trace_outputs(const TraceOptions& opt);

// Writes JSON (pretty, atomically) to path on the calling rank.
void write_json_file(const std::string& path, const std::string& text);

}  // namespace dtlab::program
