// Formulas of problem set 18-checkpointing-at-scale: checkpointing at scale: sharded and resharding checkpoints, in-memory peer checkpoints, silent data corruption.
#include <algorithm>
#include <cmath>

#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_checkpointing_formulas(std::vector<Formula>& v) {
  // ---- what a checkpoint holds ----
  v.push_back({"adam_checkpoint_bytes", "B",
               "params (12 + weight_bytes): a mixed-precision Adam checkpoint: fp32 master weights, m and v "
               "(4 + 4 + 4 B per parameter) plus the 16-bit weights where the framework keeps them as a separate "
               "tensor (weight_bytes = 2, Megatron-Core; 0 for FSDP2, whose sharded fp32 parameters are the master "
               "copy); gradients are not saved",
               {"params"}, {{"weight_bytes", 2}}, [](const FormulaArgs& a) {
                 return a.at("params") * (12 + a.at("weight_bytes"));
               }});

  // ---- writing it ----
  v.push_back({"sharded_checkpoint_write_time", "s",
               "bytes / min(writers writer_bandwidth, storage_bandwidth): a checkpoint written in parallel by "
               "`writers` clients (1: rank 0 gathers and writes everything), each at most writer_bandwidth, "
               "sharing the file system's aggregate storage_bandwidth",
               {"bytes", "writers", "writer_bandwidth", "storage_bandwidth"}, {}, [](const FormulaArgs& a) {
                 const double bw = std::min(a.at("writers") * a.at("writer_bandwidth"), a.at("storage_bandwidth"));
                 return evaluate("checkpoint_write_time", {{"bytes", a.at("bytes")}, {"bandwidth", bw}});
               }});
  v.push_back({"async_checkpoint_stall", "s",
               "bytes / (gpus d2h_bandwidth): the pause of an asynchronous checkpoint, every GPU copying its "
               "1/gpus share to pinned host memory at d2h_bandwidth; the write to storage runs in the background",
               {"bytes", "gpus", "d2h_bandwidth"}, {}, [](const FormulaArgs& a) {
                 return a.at("bytes") / (a.at("gpus") * a.at("d2h_bandwidth"));
               }});
  v.push_back({"peer_checkpoint_recovery_time", "s",
               "bytes / (nodes link_bandwidth): a replacement node fetching the failed node's 1/nodes share of "
               "the checkpoint from a peer's host memory (in-memory checkpoints, Gemini SOSP 2023)",
               {"bytes", "nodes", "link_bandwidth"}, {}, [](const FormulaArgs& a) {
                 return a.at("bytes") / (a.at("nodes") * a.at("link_bandwidth"));
               }});

  // ---- how often ----
  v.push_back({"checkpoint_overhead_with_restart", "fraction",
               "C/T + (T/2 + R)/M: checkpoint_overhead_fraction plus the restart time R (detect, reschedule, "
               "relaunch, reload) paid once per failure",
               {"checkpoint_cost", "interval", "mtbf", "restart"}, {}, [](const FormulaArgs& a) {
                 return evaluate("checkpoint_overhead_fraction", {{"checkpoint_cost", a.at("checkpoint_cost")},
                                                                  {"interval", a.at("interval")},
                                                                  {"mtbf", a.at("mtbf")}}) +
                        a.at("restart") / a.at("mtbf");
               }});

  // ---- silent data corruption ----
  v.push_back({"checkpoints_to_keep", "checkpoints",
               "ceil(D/T) + 1: checkpoints to retain, one every T seconds, so that one predates a corruption "
               "detected up to D seconds after it happened (all newer ones may hold it)",
               {"detection_delay", "interval"}, {}, [](const FormulaArgs& a) {
                 return std::ceil(a.at("detection_delay") / a.at("interval")) + 1;
               }});
  v.push_back({"dp_replica_checksum_time", "s",
               "params bytes_per_param / (tp pp hbm_bandwidth): reading one GPU's share of the weights once to "
               "hash them, for a cross-replica comparison under data parallelism",
               {"params", "hbm_bandwidth"}, {{"tp", 1}, {"pp", 1}, {"bytes_per_param", 2}},
               [](const FormulaArgs& a) {
                 return a.at("params") * a.at("bytes_per_param") / (a.at("tp") * a.at("pp") * a.at("hbm_bandwidth"));
               }});
}

}  // namespace dtlab::detail
