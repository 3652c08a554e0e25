// Formulas of problem set 11-sharded-data-parallel: FSDP and ZeRO in practice: sharded memory, prefetch, resharding, HSDP and device meshes.
#include <algorithm>
#include <cmath>

#include "dtlab/formulas.hpp"

namespace dtlab::detail {

namespace {

// 1 when parameters are gathered a second time for backward (FSDP's reshard_after_forward=True,
// ZeRO-3), 0 when the unsharded parameters are kept from forward to backward.
double regathers(const FormulaArgs& a) { return a.at("reshard_after_forward") != 0 ? 1.0 : 0.0; }

}  // namespace

void add_sharding_formulas(std::vector<Formula>& v) {
  const FormulaArgs bits{{"param_bits", 16}, {"reduce_bits", 16}, {"reshard_after_forward", 1}};

  v.push_back({"fsdp_bytes_sent_per_step", "B",
               "(N-1)/N P ((1 + r) param_bits + reduce_bits)/8: bytes each GPU sends per step in ring collectives "
               "under FSDP / ZeRO-3 on N GPUs: an allgather of the parameters before forward, again before backward "
               "when r = reshard_after_forward = 1, and a reduce-scatter of the gradients",
               {"params", "gpus"}, bits, [](const FormulaArgs& a) {
                 const double N = a.at("gpus"), P = a.at("params");
                 return (N - 1) / N * P * ((1 + regathers(a)) * a.at("param_bits") + a.at("reduce_bits")) / 8;
               }});

  v.push_back({"fsdp_comm_time", "s",
               "units ((1 + r) ring_allgather_time(N, P/units param_bits/8) + ring_reduce_scatter_time(N, P/units "
               "reduce_bits/8)): a step's FSDP collectives, one per unit each, r = reshard_after_forward (none hidden "
               "behind compute)",
               {"params", "gpus", "units", "alpha", "beta"}, bits, [](const FormulaArgs& a) {
                 const double units = std::max(1.0, std::round(a.at("units")));
                 const double per_unit = a.at("params") / units;
                 const FormulaArgs ag{{"p", a.at("gpus")},
                                      {"bytes", per_unit * a.at("param_bits") / 8},
                                      {"alpha", a.at("alpha")},
                                      {"beta", a.at("beta")}};
                 const FormulaArgs rs{{"p", a.at("gpus")},
                                      {"bytes", per_unit * a.at("reduce_bits") / 8},
                                      {"alpha", a.at("alpha")},
                                      {"beta", a.at("beta")}};
                 return units * ((1 + regathers(a)) * evaluate("ring_allgather_time", ag) +
                                 evaluate("ring_reduce_scatter_time", rs));
               }});

  v.push_back({"fsdp_pass_time", "s",
               "a forward (or backward) pass over L units, each computing for `compute` s after an allgather of "
               "`allgather` s: prefetch=1: allgather + (L-1) max(compute, allgather) + compute (the gather of unit "
               "i+1 runs during the compute of unit i); prefetch=0: L (allgather + compute)",
               {"layers", "compute", "allgather"}, {{"prefetch", 1}}, [](const FormulaArgs& a) {
                 const double L = a.at("layers"), c = a.at("compute"), g = a.at("allgather");
                 if (a.at("prefetch") == 0) return L * (g + c);
                 return g + (L - 1) * std::max(c, g) + c;
               }});

  v.push_back({"fsdp_peak_bytes_per_gpu", "B",
               "16 P/N + unit_params (live_units param_bits + grad_bits)/8: mixed-precision Adam states fully "
               "sharded over N GPUs, plus the unsharded parameters of the live units (the one computing and the one "
               "prefetched) and the unsharded gradient of the unit in backward; activations not counted",
               {"params", "gpus", "unit_params"}, {{"live_units", 2}, {"param_bits", 16}, {"grad_bits", 16}},
               [](const FormulaArgs& a) {
                 return evaluate("zero_bytes_per_gpu", {{"params", a.at("params")}, {"gpus", a.at("gpus")}, {"stage", 3}}) +
                        a.at("unit_params") * (a.at("live_units") * a.at("param_bits") + a.at("grad_bits")) / 8;
               }});

  v.push_back({"fsdp_inter_node_bytes_per_gpu", "B",
               "bytes each GPU's network card sends per step, one card per GPU, g GPUs per node, n nodes. hsdp=0, "
               "FSDP over all N = n g GPUs with rings laid out node by node, each collective spread over the g cards: "
               "(N-1)/N P ((1 + r) param_bits + reduce_bits)/8 / g; hsdp=1, sharded within a node, replicated across "
               "nodes: only the allreduce of each GPU's gradient shard leaves the node, 2 (n-1)/n (P/g) reduce_bits/8",
               {"params", "nodes", "gpus_per_node"},
               {{"hsdp", 1}, {"param_bits", 16}, {"reduce_bits", 16}, {"reshard_after_forward", 1}},
               [](const FormulaArgs& a) {
                 const double P = a.at("params"), n = a.at("nodes"), g = a.at("gpus_per_node");
                 if (a.at("hsdp") != 0) return 2 * (n - 1) / n * (P / g) * a.at("reduce_bits") / 8;
                 const double N = n * g;
                 return (N - 1) / N * P * ((1 + regathers(a)) * a.at("param_bits") + a.at("reduce_bits")) / 8 / g;
               }});
}

}  // namespace dtlab::detail
