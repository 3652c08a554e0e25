// Formulas of problem set 16-mfu-and-roofline: model FLOP utilisation and roofline step-time estimates.
#include <algorithm>
#include <cmath>

#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_roofline_formulas(std::vector<Formula>& v) {
  // ---- FLOPs and utilisation ----
  v.push_back({"transformer_train_flops_attn", "flop",
               "6 params tokens + 12 layers hidden seq tokens: transformer_train_flops plus the attention scores "
               "and their product with V (QK^T and AV, forward and backward, no saving for the causal mask), as in "
               "PaLM's appendix B",
               {"params", "tokens", "layers", "hidden", "seq"}, {}, [](const FormulaArgs& a) {
                 const double dense =
                     evaluate("transformer_train_flops", {{"params", a.at("params")}, {"tokens", a.at("tokens")}});
                 return dense + 12 * a.at("layers") * a.at("hidden") * a.at("seq") * a.at("tokens");
               }});
  v.push_back({"mfu", "fraction",
               "flops / (step_time gpus peak): model FLOP utilisation, the model's FLOPs per step (recomputation "
               "not counted) over what the GPUs could do at peak in that time",
               {"flops", "step_time", "gpus", "peak"}, {}, [](const FormulaArgs& a) {
                 return a.at("flops") / (a.at("step_time") * a.at("gpus") * a.at("peak"));
               }});
  v.push_back({"hfu_from_mfu", "fraction",
               "mfu (1 + recompute/3): hardware FLOP utilisation when a fraction `recompute` of the forward pass "
               "is run again in backward (1: full recomputation, 8 units of work instead of 6)",
               {"mfu"}, {{"recompute", 1}}, [](const FormulaArgs& a) {
                 return a.at("mfu") * (1 + a.at("recompute") / 3);
               }});
  v.push_back({"training_days", "days",
               "6 params tokens / (gpus peak mfu) / 86400: wall-clock days to train on `tokens` tokens at a "
               "given MFU (transformer_train_flops over the rate actually reached)",
               {"params", "tokens", "gpus", "peak", "mfu"}, {}, [](const FormulaArgs& a) {
                 const double flops =
                     evaluate("transformer_train_flops", {{"params", a.at("params")}, {"tokens", a.at("tokens")}});
                 return flops / (a.at("gpus") * a.at("peak") * a.at("mfu")) / 86400;
               }});

  // ---- the roofline ----
  v.push_back({"gemm_arithmetic_intensity", "flop/B",
               "2 m n k / (bytes_per_value (m k + k n + m n)): FLOPs of an m x k by k x n product per byte of its "
               "operands and result, each read or written once",
               {"m", "n", "k"}, {{"bytes_per_value", 2}}, [](const FormulaArgs& a) {
                 const double m = a.at("m"), n = a.at("n"), k = a.at("k");
                 return 2 * m * n * k / (a.at("bytes_per_value") * (m * k + k * n + m * n));
               }});
  v.push_back({"roofline_ridge_point", "flop/B",
               "peak / bandwidth: the arithmetic intensity above which a kernel can be compute-bound",
               {"peak", "bandwidth"}, {}, [](const FormulaArgs& a) { return a.at("peak") / a.at("bandwidth"); }});
  v.push_back({"roofline_attainable", "flop/s", "min(peak, intensity bandwidth): the roofline",
               {"intensity", "peak", "bandwidth"}, {}, [](const FormulaArgs& a) {
                 return std::min(a.at("peak"), a.at("intensity") * a.at("bandwidth"));
               }});
  v.push_back({"roofline_kernel_time", "s",
               "max(flops / peak, bytes / bandwidth): a kernel's least time, whichever of compute and memory "
               "traffic is the longer",
               {"flops", "bytes", "peak", "bandwidth"}, {}, [](const FormulaArgs& a) {
                 return std::max(a.at("flops") / a.at("peak"), a.at("bytes") / a.at("bandwidth"));
               }});
  v.push_back({"optimizer_step_memory_time", "s",
               "params bytes_per_param / bandwidth: a memory-bound optimizer step; default 30 B: AdamW in mixed "
               "precision reads fp32 master weight, m, v and gradient (16), writes weight, m, v (12) and the bf16 "
               "copy (2)",
               {"params", "bandwidth"}, {{"bytes_per_param", 30}}, [](const FormulaArgs& a) {
                 return a.at("params") * a.at("bytes_per_param") / a.at("bandwidth");
               }});
  v.push_back({"roofline_step_time", "s",
               "flops / (peak efficiency) + bytes / bandwidth + max(0, comm - overlappable): a step's estimate as "
               "matmul time at the efficiency the GEMMs reach, plus memory-bound kernels, plus the communication "
               "that does not hide behind compute",
               {"flops", "peak", "bytes", "bandwidth"}, {{"efficiency", 1}, {"comm", 0}, {"overlappable", 0}},
               [](const FormulaArgs& a) {
                 return a.at("flops") / (a.at("peak") * a.at("efficiency")) + a.at("bytes") / a.at("bandwidth") +
                        std::max(0.0, a.at("comm") - a.at("overlappable"));
               }});
}

}  // namespace dtlab::detail
