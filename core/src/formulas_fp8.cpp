// Formulas of problem set 14-fp8: FP8 training and FP8 communication: formats, scaling, bytes moved.
#include <algorithm>
#include <cmath>

#include "dtlab/formulas.hpp"

namespace dtlab::detail {

namespace {

// The exponent bias of a binary float with e exponent bits: 7 for E4M3, 15 for E5M2 and fp16.
double bias_of(double exponent_bits) { return std::exp2(exponent_bits - 1) - 1; }

double float_max(const FormulaArgs& a) {
  const double e = a.at("exponent_bits"), m = a.at("mantissa_bits"), bias = bias_of(e);
  if (a.at("ieee") != 0)  // the all-ones exponent is kept for inf and NaN
    return std::exp2(std::exp2(e) - 2 - bias) * (2 - std::exp2(-m));
  // E4M3 ("fn"): no infinities, only S.1111.111 is NaN, so the top exponent holds values up to
  // mantissa 1...10.
  return std::exp2(std::exp2(e) - 1 - bias) * (2 - std::exp2(1 - m));
}

double float_min_subnormal(const FormulaArgs& a) {
  return std::exp2(1 - bias_of(a.at("exponent_bits")) - a.at("mantissa_bits"));
}

}  // namespace

void add_fp8_formulas(std::vector<Formula>& v) {
  // ---- the formats ----
  v.push_back({"float_format_max", "value",
               "largest finite value of a float with e exponent and m mantissa bits, bias 2^(e-1)-1: ieee=1 "
               "(E5M2, fp16, bf16: the top exponent is kept for inf and NaN) 2^(2^e-2-bias)(2-2^-m); ieee=0 "
               "(E4M3: no infinities, only S.1111.111 is NaN) 2^(2^e-1-bias)(2-2^(1-m))",
               {"exponent_bits", "mantissa_bits"}, {{"ieee", 1}}, float_max});
  v.push_back({"float_format_min_normal", "value", "2^(1-bias): smallest normal value, bias = 2^(e-1)-1",
               {"exponent_bits"}, {}, [](const FormulaArgs& a) {
                 return std::exp2(1 - bias_of(a.at("exponent_bits")));
               }});
  v.push_back({"float_format_min_subnormal", "value",
               "2^(1-bias-m): smallest positive (subnormal) value; anything below half of it rounds to 0",
               {"exponent_bits", "mantissa_bits"}, {}, float_min_subnormal});
  v.push_back({"float_format_binades", "binades",
               "log2(max / min_subnormal): how many powers of two a format spans (its dynamic range)",
               {"exponent_bits", "mantissa_bits"}, {{"ieee", 1}}, [](const FormulaArgs& a) {
                 return std::log2(float_max(a) / float_min_subnormal(a));
               }});

  // ---- scaling ----
  v.push_back({"fp8_scale", "x",
               "fp8_max / (amax 2^margin): what a tensor is multiplied by before the cast so that its largest "
               "magnitude lands on the format's largest value (Transformer Engine: scaling_factor = FP8_MAX / "
               "amax; delayed scaling takes amax from a history of past steps, current scaling from the tensor "
               "itself); the GEMM multiplies by 1/scale again",
               {"amax"}, {{"fp8_max", 448}, {"margin", 0}}, [](const FormulaArgs& a) {
                 return a.at("fp8_max") / (a.at("amax") * std::exp2(a.at("margin")));
               }});
  v.push_back({"block_scaled_bits_per_value", "bits",
               "value_bits + scale_bits / block: storage per value when each block of `block` values shares one "
               "scale (MXFP8: 32 values, an 8-bit E8M0 scale; DeepSeek-V3: 128 or 128x128 values, an fp32 scale)",
               {"block"}, {{"value_bits", 8}, {"scale_bits", 8}}, [](const FormulaArgs& a) {
                 return a.at("value_bits") + a.at("scale_bits") / a.at("block");
               }});

  // ---- memory ----
  v.push_back({"fp8_model_state_bytes", "B",
               "params (fp8_weight + fp8_transpose + hp_weight + grad + master + optimizer): model state of FP8 "
               "training with Adam, bytes per parameter given per part; the defaults are Transformer Engine's "
               "default Linear (bf16 weight 2 plus a cached FP8 copy 1 and its transpose 1), bf16 gradients 2, fp32 "
               "master weights 4, Adam m and v 8: 18 B, against 16 B for bf16 mixed precision",
               {"params"},
               {{"fp8_weight", 1}, {"fp8_transpose", 1}, {"hp_weight", 2}, {"grad", 2}, {"master", 4}, {"optimizer", 8}},
               [](const FormulaArgs& a) {
                 return a.at("params") * (a.at("fp8_weight") + a.at("fp8_transpose") + a.at("hp_weight") +
                                          a.at("grad") + a.at("master") + a.at("optimizer"));
               }});

  // ---- communication ----
  v.push_back({"fp8_fsdp_bytes_sent_per_step", "B",
               "(N-1)/N params (gathers gather_bits + reduce_bits)/8: bytes each GPU sends per step in ring "
               "collectives under FSDP / ZeRO-3, the parameters all-gathered `gathers` times (forward and "
               "backward) at gather_bits and the gradients reduce-scattered once at reduce_bits",
               {"params", "gpus"}, {{"gather_bits", 16}, {"reduce_bits", 16}, {"gathers", 2}},
               [](const FormulaArgs& a) {
                 const double N = a.at("gpus");
                 return (N - 1) / N * a.at("params") *
                        (a.at("gathers") * a.at("gather_bits") + a.at("reduce_bits")) / 8;
               }});
  v.push_back({"low_precision_sum_error", "fraction",
               "(terms-1) 2^-(mantissa_bits+1): first-order worst-case relative error of adding `terms` values one "
               "at a time with the partial sum rounded to nearest in a format of mantissa_bits after each addition, "
               "as a ring reduce-scatter that keeps its partial sums in that format does (one rounding per hop)",
               {"terms", "mantissa_bits"}, {}, [](const FormulaArgs& a) {
                 return (a.at("terms") - 1) * std::exp2(-(a.at("mantissa_bits") + 1));
               }});

  // ---- speed ----
  v.push_back({"fp8_step_speedup", "x",
               "1 / ((1-f) + f/s + overhead): step speed-up when the GEMMs, a fraction f of the bf16 step, run s "
               "times faster in FP8 and the casts and amax reductions add `overhead` (a fraction of the bf16 step)",
               {"gemm_fraction", "gemm_speedup"}, {{"overhead", 0}}, [](const FormulaArgs& a) {
                 const double f = a.at("gemm_fraction");
                 return 1 / ((1 - f) + f / a.at("gemm_speedup") + a.at("overhead"));
               }});
}

}  // namespace dtlab::detail
