// Formulas of problem set 12-sequence-and-context-parallelism: sequence and context parallelism: ring attention, Ulysses all-to-all, activation memory per token.
#include <algorithm>
#include <cmath>

#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_sequence_formulas(std::vector<Formula>& v) {
  // ---- all-to-all (also used by the expert-parallelism formulas) ----
  v.push_back({"pairwise_alltoall_time", "s",
               "(p-1) alpha + (p-1)/p n beta: all-to-all in which each rank holds n bytes, keeps 1/p and sends one "
               "message of n/p to each of the p-1 others (pairwise exchange on a full-bisection network)",
               {"p", "bytes", "alpha", "beta"}, {}, [](const FormulaArgs& a) {
                 const double p = a.at("p");
                 return (p - 1) * a.at("alpha") + (p - 1) / p * a.at("bytes") * a.at("beta");
               }});
  v.push_back({"alltoall_bytes_sent", "B",
               "(p-1)/p n: bytes each rank sends in an all-to-all of the n bytes it holds (the 1/p for itself stays)",
               {"p", "bytes"}, {}, [](const FormulaArgs& a) {
                 const double p = a.at("p");
                 return (p - 1) / p * a.at("bytes");
               }});

  // ---- activation memory (Korthikanti et al. 2022, 16-bit activations) ----
  v.push_back({"attention_score_bytes", "B",
               "heads batch seq^2 value_bits/8: one layer's s x s attention-score matrices, one per head, as a "
               "non-fused attention materializes them (flash attention never writes them to memory)",
               {"heads", "seq", "batch"}, {{"value_bits", 16}}, [](const FormulaArgs& a) {
                 const double s = a.at("seq");
                 return a.at("heads") * a.at("batch") * s * s * a.at("value_bits") / 8;
               }});
  v.push_back({"sequence_activation_bytes", "B",
               "activations one GPU keeps for backward (Korthikanti et al. 2022), 16-bit: layers [ (s/cp) b h A + "
               "5 a b s (s/cp)/tp ], A = 10 + 24/tp with tensor parallelism alone, 34/tp with sequence parallelism "
               "(sp=1); flash=1 drops the s^2 score term; cp = context-parallel degree. tp=cp=1, sp=flash=0 is "
               "transformer_activation_bytes",
               {"seq", "batch", "hidden", "heads", "layers"}, {{"tp", 1}, {"sp", 0}, {"cp", 1}, {"flash", 0}},
               [](const FormulaArgs& a) {
                 const double s = a.at("seq"), b = a.at("batch"), h = a.at("hidden"), heads = a.at("heads");
                 const double t = a.at("tp"), cp = a.at("cp");
                 const double linear = a.at("sp") != 0 ? 34 / t : 10 + 24 / t;
                 const double scores = a.at("flash") != 0 ? 0.0 : 5 * heads * b * s * (s / cp) / t;
                 return a.at("layers") * ((s / cp) * b * h * linear + scores);
               }});

  // ---- ring attention (Liu et al. 2023); chunk = tokens per rank, 16-bit K and V ----
  v.push_back({"ring_attention_step_flops", "flop",
               "4 c^2 h batch: forward attention of one query chunk of c tokens against one K,V chunk of c tokens "
               "(2 c^2 h for Q K^T, 2 c^2 h for the scores times V), all heads",
               {"chunk", "hidden"}, {{"batch", 1}}, [](const FormulaArgs& a) {
                 const double c = a.at("chunk");
                 return 4 * c * c * a.at("hidden") * a.at("batch");
               }});
  v.push_back({"ring_attention_kv_bytes", "B",
               "2 c h kv_ratio batch value_bits/8: the K and V of one chunk of c tokens, passed one hop per ring step "
               "(kv_ratio = KV heads / query heads, 1 for MHA, 0.25 for 8 KV heads of 32)",
               {"chunk", "hidden"}, {{"kv_ratio", 1}, {"value_bits", 16}, {"batch", 1}}, [](const FormulaArgs& a) {
                 return 2 * a.at("chunk") * a.at("hidden") * a.at("kv_ratio") * a.at("batch") * a.at("value_bits") / 8;
               }});
  v.push_back({"ring_attention_min_chunk", "tokens",
               "F kv_ratio (value_bits/8) / (2 B): the chunk length c at which a ring step's compute 4 c^2 h / F equals "
               "its K,V transfer 2 c h kv_ratio (value_bits/8) / B; F/B for MHA in 16 bits (Liu et al. 2023)",
               {"flops", "bandwidth"}, {{"kv_ratio", 1}, {"value_bits", 16}}, [](const FormulaArgs& a) {
                 return a.at("flops") * a.at("kv_ratio") * a.at("value_bits") / 8 / (2 * a.at("bandwidth"));
               }});
  v.push_back({"ring_attention_bytes_per_layer", "B",
               "(p-1) 2 (s/p) h kv_ratio batch value_bits/8: bytes each rank sends in one layer's forward, its K,V "
               "chunk forwarded p-1 times",
               {"p", "seq", "hidden"}, {{"kv_ratio", 1}, {"value_bits", 16}, {"batch", 1}}, [](const FormulaArgs& a) {
                 const double p = a.at("p");
                 return (p - 1) * 2 * (a.at("seq") / p) * a.at("hidden") * a.at("kv_ratio") * a.at("batch") *
                        a.at("value_bits") / 8;
               }});
  v.push_back({"causal_ring_efficiency", "fraction",
               "p/(2p-1): useful share of a causal ring attention with contiguous chunks: the last rank computes "
               "p-1/2 blocks while the average is p/2 (zig-zag or striped layouts bring it to 1)",
               {"p"}, {}, [](const FormulaArgs& a) {
                 const double p = a.at("p");
                 return p / (2 * p - 1);
               }});

  // ---- DeepSpeed-Ulysses (Jacobs et al. 2023) ----
  v.push_back({"ulysses_bytes_per_layer", "B",
               "(p-1)/p (s/p) h (2 + 2 kv_ratio) batch value_bits/8: bytes each rank sends in one layer's forward "
               "all-to-alls of Q, K, V (sequence-split to head-split) and of the output (back)",
               {"p", "seq", "hidden"}, {{"kv_ratio", 1}, {"value_bits", 16}, {"batch", 1}}, [](const FormulaArgs& a) {
                 const double p = a.at("p");
                 return (p - 1) / p * (a.at("seq") / p) * a.at("hidden") * (2 + 2 * a.at("kv_ratio")) * a.at("batch") *
                        a.at("value_bits") / 8;
               }});
}

}  // namespace dtlab::detail
