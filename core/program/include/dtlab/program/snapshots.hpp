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
#include "dtlab/train.hpp"

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

// What such a loop reports, from what each rank did: losses (the loss sum and the number of
// batches of each epoch, this rank's) and samples (this rank's) are summed over the ranks, the
// kept models evaluated (evaluate_snapshots), and the TrainResult filled in, with the train time
// `seconds` and the wall time since t0 (steady_seconds). Collective over world.
struct SnapshotRun {
  TrainResult result;
  std::optional<double> time_to_target;
  nlohmann::json curve = nlohmann::json::array();
};
SnapshotRun finish_run(const Comm& world, int keeper, const std::vector<Snapshot>& kept, std::int64_t steps,
                       double seconds, std::span<const float> final_params, std::vector<double> losses,
                       std::int64_t samples, const TrainConfig& cfg, const Dataset& test, double target,
                       std::int64_t steps_per_epoch, double t0);

// root's counts (a histogram, say) on every rank, however long; collective over world.
std::vector<std::int64_t> broadcast_counts(const Comm& world, std::vector<std::int64_t> counts, int root);

}  // namespace dtlab::program
