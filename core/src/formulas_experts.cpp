// Formulas of problem set 13-expert-parallelism: expert parallelism: all-to-all cost, capacity factor, load balancing, EP x TP x DP layouts.
#include <algorithm>
#include <cmath>

#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_experts_formulas(std::vector<Formula>& v) {
  // ---- parameters ----
  v.push_back({"moe_params", "params",
               "dense + layers experts matrices hidden ffn: parameters of an MoE transformer whose experts are FFNs of "
               "`matrices` hidden x ffn matrices (3 for SwiGLU); experts = E counts all of them, experts = k those one "
               "token uses (its active parameters); dense = attention, embeddings, router, shared experts",
               {"layers", "hidden", "ffn", "experts"}, {{"dense", 0}, {"matrices", 3}}, [](const FormulaArgs& a) {
                 return a.at("dense") +
                        a.at("layers") * a.at("experts") * a.at("matrices") * a.at("hidden") * a.at("ffn");
               }});
  v.push_back({"moe_expert_params_per_gpu", "params",
               "layers experts matrices hidden ffn / (ep pp etp): routed-expert parameters one GPU holds, experts spread "
               "over ep ranks, layers over pp stages, each expert split etp ways (expert tensor parallelism)",
               {"layers", "experts", "hidden", "ffn", "ep"}, {{"matrices", 3}, {"pp", 1}, {"etp", 1}},
               [](const FormulaArgs& a) {
                 return a.at("layers") * a.at("experts") * a.at("matrices") * a.at("hidden") * a.at("ffn") /
                        (a.at("ep") * a.at("pp") * a.at("etp"));
               }});

  // ---- dispatch and combine ----
  v.push_back({"moe_alltoall_bytes", "B",
               "(p-1)/p capacity_factor tokens top_k hidden value_bits/8: bytes one GPU sends in one dispatch (or "
               "combine) all-to-all over p EP ranks, routing uniform; capacity_factor > 1 when buffers are padded",
               {"tokens", "hidden", "top_k", "p"}, {{"value_bits", 16}, {"capacity_factor", 1}},
               [](const FormulaArgs& a) {
                 const double p = a.at("p");
                 const double held = a.at("capacity_factor") * a.at("tokens") * a.at("top_k") * a.at("hidden") *
                                     a.at("value_bits") / 8;
                 return evaluate("alltoall_bytes_sent", {{"p", p}, {"bytes", held}});
               }});
  v.push_back({"moe_layer_alltoall_time", "s",
               "passes x pairwise_alltoall_time(p, tokens top_k hidden value_bits/8): one MoE layer's all-to-alls per "
               "micro-batch, passes = 4 (dispatch and combine in forward, their gradients in backward)",
               {"p", "tokens", "hidden", "top_k", "alpha", "beta"}, {{"value_bits", 16}, {"passes", 4}},
               [](const FormulaArgs& a) {
                 const double n = a.at("tokens") * a.at("top_k") * a.at("hidden") * a.at("value_bits") / 8;
                 return a.at("passes") * evaluate("pairwise_alltoall_time", {{"p", a.at("p")},
                                                                             {"bytes", n},
                                                                             {"alpha", a.at("alpha")},
                                                                             {"beta", a.at("beta")}});
               }});
  v.push_back({"moe_comm_to_compute_ratio", "x",
               "F (value_bits/8) remote / (matrices ffn B): time to dispatch and combine a token (2 h value_bits/8 bytes "
               "at B, the remote share of it) over the time its expert computes on it (2 matrices h ffn flops at F), "
               "forward; independent of the hidden size",
               {"flops", "bandwidth", "ffn"}, {{"value_bits", 16}, {"matrices", 3}, {"remote_fraction", 1}},
               [](const FormulaArgs& a) {
                 return a.at("flops") * a.at("value_bits") / 8 * a.at("remote_fraction") /
                        (a.at("matrices") * a.at("ffn") * a.at("bandwidth"));
               }});

  // ---- capacity and balance ----
  v.push_back({"moe_expert_capacity", "tokens",
               "capacity_factor top_k tokens / experts: token slots per expert (Megatron-Core: num_tokens_per_rank * "
               "topk * capacity_factor / num_experts; Switch Transformer with top_k = 1)",
               {"tokens", "experts", "top_k", "capacity_factor"}, {}, [](const FormulaArgs& a) {
                 return a.at("capacity_factor") * a.at("top_k") * a.at("tokens") / a.at("experts");
               }});
  v.push_back({"switch_aux_loss", "loss",
               "alpha E sum_i f_i P_i (Switch Transformer) when one expert gets hot_fraction of the tokens and mean "
               "router probability hot_prob and the other E-1 share the rest evenly: alpha E (f P + (1-f)(1-P)/(E-1)); "
               "alpha at uniform routing (f = P = 1/E), alpha E when one expert takes everything",
               {"experts", "hot_fraction", "hot_prob"}, {{"alpha", 0.01}}, [](const FormulaArgs& a) {
                 const double E = a.at("experts"), f = a.at("hot_fraction"), P = a.at("hot_prob");
                 const double rest = E > 1 ? (1 - f) * (1 - P) / (E - 1) : 0.0;
                 return a.at("alpha") * E * (f * P + rest);
               }});
  v.push_back({"moe_straggler_efficiency", "fraction",
               "mean / max tokens per EP rank: the layer waits for the rank with the most tokens (min(max, capacity) "
               "when tokens beyond capacity are dropped)",
               {"mean_load", "max_load"}, {}, [](const FormulaArgs& a) {
                 return a.at("mean_load") / std::max(a.at("mean_load"), a.at("max_load"));
               }});
}

}  // namespace dtlab::detail
