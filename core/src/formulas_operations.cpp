// Formulas of problem set 19-data-evaluation-and-clusters: data input pipelines and storage, distributed evaluation of metrics, cluster schedulers.
#include <algorithm>
#include <cmath>

#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_operations_formulas(std::vector<Formula>& v) {
  // ---- input pipelines and storage ----
  v.push_back({"input_read_bandwidth", "B/s",
               "global_batch sample_bytes / step_time: the bytes per second a data-parallel job reads",
               {"global_batch", "sample_bytes", "step_time"}, {}, [](const FormulaArgs& a) {
                 return a.at("global_batch") * a.at("sample_bytes") / a.at("step_time");
               }});
  v.push_back({"loader_workers_needed", "workers",
               "ceil(samples_per_second / worker_rate): loader workers (one core each) that keep one GPU fed",
               {"samples_per_second", "worker_rate"}, {}, [](const FormulaArgs& a) {
                 return std::ceil(a.at("samples_per_second") / a.at("worker_rate"));
               }});
  v.push_back({"input_stall_fraction", "fraction",
               "(step_time - synthetic_step_time) / step_time: the share of a step spent waiting for input, "
               "from the same step timed with synthetic data already on the device",
               {"step_time", "synthetic_step_time"}, {}, [](const FormulaArgs& a) {
                 return (a.at("step_time") - a.at("synthetic_step_time")) / a.at("step_time");
               }});
  v.push_back({"metadata_ops_per_second", "ops/s",
               "samples_per_second ops_per_file / samples_per_file: file-system metadata operations (open, close) "
               "of an input pipeline; samples_per_file = 1 for one file per sample, thousands for tar shards",
               {"samples_per_second"}, {{"samples_per_file", 1}, {"ops_per_file", 2}}, [](const FormulaArgs& a) {
                 return a.at("samples_per_second") * a.at("ops_per_file") / a.at("samples_per_file");
               }});

  // ---- distributed evaluation ----
  v.push_back({"pooled_accuracy", "fraction",
               "(n1 acc1 + n2 acc2 + n3 acc3 + n4 acc4) / (n1 + n2 + n3 + n4): the accuracy of up to four shards "
               "together, i.e. summed correct counts over summed totals (the mean of the acc_i is right only for "
               "equal n_i)",
               {"n1", "acc1", "n2", "acc2"}, {{"n3", 0}, {"acc3", 0}, {"n4", 0}, {"acc4", 0}},
               [](const FormulaArgs& a) {
                 const double correct = a.at("n1") * a.at("acc1") + a.at("n2") * a.at("acc2") +
                                        a.at("n3") * a.at("acc3") + a.at("n4") * a.at("acc4");
                 return correct / (a.at("n1") + a.at("n2") + a.at("n3") + a.at("n4"));
               }});
  v.push_back({"f1_score", "fraction",
               "2 tp / (2 tp + fp + fn): F1 from confusion counts (allreduce the counts, not the per-rank F1)",
               {"tp", "fp", "fn"}, {}, [](const FormulaArgs& a) {
                 return 2 * a.at("tp") / (2 * a.at("tp") + a.at("fp") + a.at("fn"));
               }});
  v.push_back({"distributed_sampler_padding", "samples",
               "ceil(N/p) p - N: samples PyTorch's DistributedSampler (drop_last=False) repeats so that each of p "
               "ranks gets ceil(N/p)",
               {"samples", "ranks"}, {}, [](const FormulaArgs& a) {
                 return std::ceil(a.at("samples") / a.at("ranks")) * a.at("ranks") - a.at("samples");
               }});

  // ---- placement ----
  v.push_back({"split_leaf_alltoall_time", "s",
               "bytes/bandwidth max(1, oversubscription/2): an all-to-all sending `bytes` from each node, the "
               "nodes split evenly under two leaf switches whose uplinks are oversubscribed oversubscription:1, "
               "so half of each node's traffic crosses them",
               {"bytes", "bandwidth", "oversubscription"}, {}, [](const FormulaArgs& a) {
                 return a.at("bytes") / a.at("bandwidth") * std::max(1.0, a.at("oversubscription") / 2);
               }});
}

}  // namespace dtlab::detail
