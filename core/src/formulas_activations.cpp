// Formulas of problem set 17-activation-memory: activation checkpointing and offload policies.
#include <algorithm>
#include <cmath>

#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_activations_formulas(std::vector<Formula>& v) {
  v.push_back({"transformer_layer_forward_flops", "flop",
               "24 b s h^2 + 4 b s^2 h: forward of one GPT layer (QKV, projection and a 4h MLP: 24 b s h^2; scores "
               "and attention over values: 4 b s^2 h); backward is twice that",
               {"seq", "batch", "hidden"}, {}, [](const FormulaArgs& a) {
                 const double s = a.at("seq"), b = a.at("batch"), h = a.at("hidden");
                 return 24 * b * s * h * h + 4 * b * s * s * h;
               }});

  v.push_back({"selective_recompute_overhead", "fraction",
               "4 b s^2 h / (3 (24 b s h^2 + 4 b s^2 h)) = s/(18 h + 3 s): extra FLOPs of recomputing attention's "
               "scores and attention over values in backward, as a share of a training step (forward + backward = 3 "
               "forwards); full recomputation costs 1/3",
               {"seq", "hidden"}, {}, [](const FormulaArgs& a) {
                 const double s = a.at("seq"), h = a.at("hidden");
                 return s / (18 * h + 3 * s);
               }});

  v.push_back({"checkpoint_segment_bytes", "B",
               "ceil(L/k) c + k a: checkpoint the input (c bytes) of every k-th layer and recompute one segment of k "
               "layers (a bytes each while recomputed) at a time in backward",
               {"layers", "segment", "checkpoint_bytes", "layer_bytes"}, {}, [](const FormulaArgs& a) {
                 const double k = std::max(1.0, std::round(a.at("segment")));
                 return std::ceil(a.at("layers") / k) * a.at("checkpoint_bytes") + k * a.at("layer_bytes");
               }});

  v.push_back({"optimal_checkpoint_segment", "layers",
               "sqrt(L c / a): the segment length k minimizing L c/k + k a; sqrt(L) when a checkpoint is as large as "
               "a layer's activations (Chen et al. 2016)",
               {"layers", "checkpoint_bytes", "layer_bytes"}, {}, [](const FormulaArgs& a) {
                 return std::sqrt(a.at("layers") * a.at("checkpoint_bytes") / a.at("layer_bytes"));
               }});

  v.push_back({"layers_to_recompute", "layers",
               "ceil((L a - budget) / (a - c)), between 0 and L: fewest layers to recompute in full (keeping only "
               "their c-byte input) so that L layers of a bytes fit the activation budget",
               {"layers", "layer_bytes", "checkpoint_bytes", "budget"}, {}, [](const FormulaArgs& a) {
                 const double L = a.at("layers"), la = a.at("layer_bytes"), c = a.at("checkpoint_bytes");
                 const double excess = L * la - a.at("budget");
                 if (excess <= 0) return 0.0;
                 if (la <= c) return L;  // recomputing frees nothing: no number of layers is enough
                 const double n = std::ceil(excess / (la - c));
                 return std::clamp(n, 0.0, L);
               }});

  v.push_back({"offload_exposed_time", "s",
               "max(0, bytes/bandwidth - compute): time a copy over PCIe (or any link) adds when it runs alongside "
               "`compute` seconds of work it can hide behind",
               {"bytes", "bandwidth", "compute"}, {}, [](const FormulaArgs& a) {
                 return std::max(0.0, a.at("bytes") / a.at("bandwidth") - a.at("compute"));
               }});

  v.push_back({"offload_min_tokens", "tokens",
               "bytes_per_param F / (6 bandwidth): tokens per GPU per step whose compute (6 P tokens / F) lasts as "
               "long as moving or touching bytes_per_param bytes of each of the P parameters at `bandwidth` "
               "(independent of P)",
               {"bytes_per_param", "flops", "bandwidth"}, {}, [](const FormulaArgs& a) {
                 return a.at("bytes_per_param") * a.at("flops") / (6 * a.at("bandwidth"));
               }});
}

}  // namespace dtlab::detail
