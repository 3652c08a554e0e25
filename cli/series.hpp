// Runs `dtlab train` once per rank count, as child processes, and tabulates what they report:
// the scaling benchmark and the demo.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"

namespace dtlab::cli {

struct SeriesRun {
  int ranks = 1;
  int exit_code = 0;
  nlohmann::json result;  // train --json output; empty when the run failed
};

std::vector<SeriesRun> run_training_series(const std::vector<int>& ranks,
                                           const std::vector<std::string>& train_args);

// ranks | test accuracy | samples/s | speedup | efficiency, against the first row.
void print_scaling_table(const std::vector<SeriesRun>& runs);

nlohmann::json series_json(const std::vector<SeriesRun>& runs);

void add_scaling(CLI::App& bench, Command& cmd);

}  // namespace dtlab::cli
