// Formulas of problem set 15-fabrics: collectives on real fabrics: NVSwitch, NVLS/SHARP, rail-optimised fat trees, NCCL protocols and channels, busbw.
//
// The collectives of formulas_collectives.cpp priced on a two-level machine: GPUs joined by NVLink
// inside a node (alpha_intra, beta_intra) and by one NIC per GPU across nodes (alpha_inter,
// beta_inter), plus the reductions a switch can do (NVLink SHARP, InfiniBand SHARP). The sub-steps
// call the existing formulas by name through dtlab::evaluate rather than copying them.
#include <algorithm>
#include <cmath>

#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_fabrics_formulas(std::vector<Formula>& v) {
  // ---- in-switch reduction ----
  v.push_back({"nvls_allreduce_bytes_per_gpu", "B",
               "(p+1)/p n: bytes each GPU sends (and receives) in an NVLink SHARP (NVLS) allreduce: its whole "
               "buffer once to the switch, which adds, plus its 1/p of the sum once back to the multicast; "
               "against 2(p-1)/p n in a ring",
               {"p", "bytes"}, {}, [](const FormulaArgs& a) {
                 const double p = a.at("p");
                 return (p + 1) / p * a.at("bytes");
               }});
  v.push_back({"nvls_allreduce_time", "s",
               "2 alpha + (p+1)/p n beta: NVLS allreduce, a reduce through the switch then a multicast of the "
               "result, beta per byte of one direction of a GPU's NVLink",
               {"p", "bytes", "alpha", "beta"}, {}, [](const FormulaArgs& a) {
                 return 2 * a.at("alpha") + evaluate("nvls_allreduce_bytes_per_gpu", {{"p", a.at("p")}, {"bytes", a.at("bytes")}}) *
                                                a.at("beta");
               }});
  v.push_back({"sharp_allreduce_time", "s",
               "2 alpha + n beta: InfiniBand SHARP allreduce, each endpoint streams its n bytes up the switches' "
               "aggregation tree once and receives the n-byte sum once (a ring sends 2(p-1)/p n)",
               {"bytes", "alpha", "beta"}, {}, [](const FormulaArgs& a) {
                 return 2 * a.at("alpha") + a.at("bytes") * a.at("beta");
               }});

  // ---- two-level machines: nodes of gpus_per_node GPUs, one NIC per GPU ----
  v.push_back({"hierarchical_allreduce_time", "s",
               "ring reduce-scatter of n inside the node (g GPUs, alpha_intra, beta_intra) + allreduce of n/g "
               "across the nodes, GPU i of every node on NIC i (ring; sharp=1: InfiniBand SHARP) + ring "
               "allgather of n inside the node; the three phases one after another, not pipelined",
               {"nodes", "gpus_per_node", "bytes", "alpha_intra", "beta_intra", "alpha_inter", "beta_inter"},
               {{"sharp", 0}}, [](const FormulaArgs& a) {
                 const double g = a.at("gpus_per_node"), n = a.at("bytes");
                 const FormulaArgs intra{{"p", g}, {"bytes", n}, {"alpha", a.at("alpha_intra")}, {"beta", a.at("beta_intra")}};
                 const double inter =
                     a.at("sharp") != 0
                         ? evaluate("sharp_allreduce_time",
                                    {{"bytes", n / g}, {"alpha", a.at("alpha_inter")}, {"beta", a.at("beta_inter")}})
                         : evaluate("ring_allreduce_time", {{"p", a.at("nodes")},
                                                            {"bytes", n / g},
                                                            {"alpha", a.at("alpha_inter")},
                                                            {"beta", a.at("beta_inter")}});
                 return evaluate("ring_reduce_scatter_time", intra) + inter + evaluate("ring_allgather_time", intra);
               }});
  v.push_back({"flat_ring_allreduce_time", "s",
               "2(N-1) alpha + 2(N-1)/N (n/rings) beta_inter, N = nodes gpus_per_node: a ring through every GPU, "
               "each step waiting for its node-crossing hop; rings > 1: that many rings side by side, each on "
               "1/rings of the data and leaving every node through its own NIC (NVLink assumed not the bottleneck)",
               {"nodes", "gpus_per_node", "bytes", "alpha", "beta_inter"}, {{"rings", 1}}, [](const FormulaArgs& a) {
                 const double rings = std::max(1.0, std::round(a.at("rings")));
                 return evaluate("ring_allreduce_time", {{"p", a.at("nodes") * a.at("gpus_per_node")},
                                                         {"bytes", a.at("bytes") / rings},
                                                         {"alpha", a.at("alpha")},
                                                         {"beta", a.at("beta_inter")}});
               }});
  v.push_back({"oversubscribed_ring_allreduce_time", "s",
               "2(p-1) alpha + 2 (p-1)/p n beta r: a ring whose every hop crosses a tier oversubscribed r:1 "
               "(r NICs share one uplink's bandwidth); r = 1 is a non-blocking fabric",
               {"p", "bytes", "alpha", "beta", "oversubscription"}, {}, [](const FormulaArgs& a) {
                 return evaluate("ring_allreduce_time", {{"p", a.at("p")},
                                                         {"bytes", a.at("bytes")},
                                                         {"alpha", a.at("alpha")},
                                                         {"beta", a.at("beta") * a.at("oversubscription")}});
               }});
  v.push_back({"double_binary_tree_allreduce_time", "s",
               "2 ceil(log2 p) alpha + 2 n beta: NCCL's double binary tree, pipelined; each rank is inner in one "
               "tree and a leaf in the other, so it sends about 2n like a ring, in log p rather than p steps",
               {"p", "bytes", "alpha", "beta"}, {}, [](const FormulaArgs& a) {
                 const double p = a.at("p"), L = p <= 1 ? 0 : std::ceil(std::log2(p));
                 return 2 * L * a.at("alpha") + 2 * a.at("bytes") * a.at("beta");
               }});

  // ---- NCCL protocols and channels ----
  v.push_back({"flagged_payload_bandwidth", "B/s",
               "bandwidth data_bytes / line_bytes: what a protocol that writes a flag with its data delivers "
               "(NCCL LL: 4 data bytes per 8-byte store; LL128: 120 per 128-byte line; Simple: no flag in the line)",
               {"bandwidth", "data_bytes", "line_bytes"}, {}, [](const FormulaArgs& a) {
                 return a.at("bandwidth") * a.at("data_bytes") / a.at("line_bytes");
               }});
  v.push_back({"channels_needed", "channels",
               "ceil(bandwidth / per_channel): NCCL channels (one thread block on one SM each) it takes to "
               "reach a bandwidth when one channel moves per_channel",
               {"bandwidth", "per_channel"}, {}, [](const FormulaArgs& a) {
                 return std::ceil(a.at("bandwidth") / a.at("per_channel") - 1e-9);
               }});
}

}  // namespace dtlab::detail
