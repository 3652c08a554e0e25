// The accuracy curve of a run whose ranks cannot stop together to evaluate (a parameter server's
// workers, asynchronous SGD): one rank keeps the model it holds a few times per epoch, with the
// step and the time; after training every rank evaluates the kept models, and the final one,
// on the test set. From them come the epoch lines and the time to an accuracy target.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "dtlab/comm.hpp"
#include "dtlab/data.hpp"
#include "dtlab/loop.hpp"
#include "dtlab/mlp.hpp"

namespace dtlab::program {

struct Snapshot {
  std::int64_t step = 0;
  double seconds = 0;  // since training began
  std::vector<float> params;
};

struct Curve {
  std::vector<EpochResult> epochs;        // epoch e: the first model kept at or after its last step
  std::optional<double> time_to_target;   // seconds until the first model that reached the target
  nlohmann::json points = nlohmann::json::array();  // step, seconds, test accuracy of each model
};

// Collective over world. `kept` is the keeper rank's (empty elsewhere); the final model
// (final_params, the same on every rank) closes the curve at (steps, seconds). losses holds, per
// epoch, the training loss summed over every rank's batches and the number of batches (2 doubles
// per epoch, already summed over the ranks).
Curve evaluate_snapshots(const Comm& world, int keeper, const std::vector<Snapshot>& kept, std::int64_t steps,
                         double seconds, std::span<const float> final_params, const MlpConfig& model,
                         const Dataset& test, double target, int epochs, std::int64_t steps_per_epoch,
                         std::span<const double> losses);

}  // namespace dtlab::program
