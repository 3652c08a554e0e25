// Training: pipelines, compression sizes, memory, learning-rate scaling, scaling laws of speed-up,
// asynchronous and decentralized SGD, failures and checkpoints.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numbers>

#include <fmt/format.h>

#include "dtlab/error.hpp"
#include "dtlab/formulas.hpp"
#include "dtlab/optim.hpp"
#include "dtlab/train.hpp"

namespace dtlab::detail {

namespace {

// A whole count from a formula argument, at least `least` and at most 1e7 (the gossip formulas
// loop over every frequency).
std::int64_t count_of(const FormulaArgs& a, const char* name, std::int64_t least) {
  const double v = a.at(name);
  if (!(v >= double(least) && v <= 1e7 && v == std::round(v)))
    throw Error(fmt::format("{} = {}: expected a whole number from {} to 1e7", name, v, least));
  return std::int64_t(v);
}

// One dimension of a gossip ring or torus, n ranks around: its distinct neighbour offsets (two for
// n >= 3, one for n = 2, none for n = 1), and their part of the mixing matrix's eigenvalue for
// frequency k, the sum of cos(2 pi k offset / n) over them.
int ring_degree(std::int64_t n) { return n >= 3 ? 2 : int(n - 1); }
double ring_frequency(std::int64_t n, std::int64_t k) {
  if (n == 1) return 0;
  if (n == 2) return std::cos(std::numbers::pi * double(k));
  return 2 * std::cos(2 * std::numbers::pi * double(k) / double(n));
}

// |lambda_2| of gossip's mixing matrix W = (I + A)/(d + 1) on a rows x cols torus (rows = 1: a ring):
// W is circulant in each dimension, with eigenvalues (1 + f_rows(a) + f_cols(b))/(d + 1); the largest
// magnitude over every (a, b) but (0, 0), the mean, is the rate at which the ranks agree.
double gossip_lambda2(std::int64_t rows, std::int64_t cols) {
  if (rows * cols > std::int64_t(1e7)) throw Error(fmt::format("gossip: {} x {} ranks: at most 1e7", rows, cols));
  const double d = ring_degree(rows) + ring_degree(cols);
  double worst = 0;
  for (std::int64_t a = 0; a < rows; ++a)
    for (std::int64_t b = 0; b < cols; ++b)
      if (a != 0 || b != 0)
        worst = std::max(worst, std::abs(1 + ring_frequency(rows, a) + ring_frequency(cols, b)) / (d + 1));
  return worst;
}

}  // namespace

void add_training_formulas(std::vector<Formula>& v) {
  // ---- pipelines (Lab 03) ----
  v.push_back({"pipeline_bubble_fraction", "fraction",
               "(p-1)/(m+p-1): idle share of a GPipe or 1F1B step with p stages and m micro-batches",
               {"p", "m"}, {}, [](const FormulaArgs& a) {
                 return (a.at("p") - 1) / (a.at("m") + a.at("p") - 1);
               }});
  v.push_back({"pipeline_step_time", "s",
               "(m+p-1) t: one step, each micro-batch taking t (forward + backward) per stage",
               {"p", "m", "t"}, {}, [](const FormulaArgs& a) { return (a.at("m") + a.at("p") - 1) * a.at("t"); }});
  v.push_back({"gpipe_activations_in_flight", "micro-batches",
               "m: GPipe keeps every micro-batch's activations until its backward", {"p", "m"}, {},
               [](const FormulaArgs& a) { return a.at("m"); }});
  v.push_back({"one_f_one_b_activations_in_flight", "micro-batches",
               "min(p, m): 1F1B's first stage holds at most p micro-batches", {"p", "m"}, {},
               [](const FormulaArgs& a) { return std::min(a.at("p"), a.at("m")); }});

  // ---- gradient compression (Lab 06); n = number of gradient values ----
  v.push_back({"dense_bytes", "B", "n b/8: n values of b bits (32 for fp32)", {"n"}, {{"value_bits", 32}},
               [](const FormulaArgs& a) { return a.at("n") * a.at("value_bits") / 8; }});
  v.push_back({"topk_bytes", "B",
               "ceil(ratio n) (value_bits + index_bits)/8: the k largest values with their indices",
               {"n", "ratio"}, {{"value_bits", 32}, {"index_bits", 32}}, [](const FormulaArgs& a) {
                 return std::ceil(a.at("ratio") * a.at("n")) * (a.at("value_bits") + a.at("index_bits")) / 8;
               }});
  v.push_back({"topk_compression_ratio", "x",
               "dense / top-k bytes = value_bits / (ratio (value_bits + index_bits))", {"ratio"},
               {{"value_bits", 32}, {"index_bits", 32}}, [](const FormulaArgs& a) {
                 return a.at("value_bits") / (a.at("ratio") * (a.at("value_bits") + a.at("index_bits")));
               }});
  v.push_back({"topk_allgather_bytes_received", "B",
               "(p-1) k (value_bits + index_bits)/8: sparse vectors cannot be summed on the way, so each rank gathers everyone's",
               {"p", "n", "ratio"}, {{"value_bits", 32}, {"index_bits", 32}}, [](const FormulaArgs& a) {
                 return (a.at("p") - 1) * std::ceil(a.at("ratio") * a.at("n")) *
                        (a.at("value_bits") + a.at("index_bits")) / 8;
               }});
  v.push_back({"sign_bytes", "B", "n/8 + 4: one bit per value and one fp32 scale (signSGD / 1-bit SGD)", {"n"}, {},
               [](const FormulaArgs& a) { return std::ceil(a.at("n") / 8) + 4; }});
  v.push_back({"qsgd_bytes", "B",
               "n (bits + 1)/8 + 4: QSGD with s = 2^bits - 1 levels above zero (bits for the level 0..s), a sign bit per value and the fp32 norm",
               {"n", "bits"}, {}, [](const FormulaArgs& a) {
                 return std::ceil(a.at("n") * (a.at("bits") + 1) / 8) + 4;
               }});
  v.push_back({"powersgd_bytes", "B", "(rows + cols) rank 4: PowerSGD's two fp32 factors of a rows x cols matrix",
               {"rows", "cols", "rank"}, {}, [](const FormulaArgs& a) {
                 return (a.at("rows") + a.at("cols")) * a.at("rank") * 4;
               }});

  // ---- memory (mixed precision, ZeRO); params = number of parameters ----
  v.push_back({"adam_fp32_training_bytes", "B",
               "16 params: fp32 weights, gradients, Adam m and v (activations not counted)", {"params"}, {},
               [](const FormulaArgs& a) { return 16 * a.at("params"); }});
  v.push_back({"adam_mixed_precision_bytes", "B",
               "16 params: fp16 weights (2) and gradients (2), fp32 master weights (4), m (4), v (4)",
               {"params"}, {}, [](const FormulaArgs& a) { return 16 * a.at("params"); }});
  v.push_back({"zero_bytes_per_gpu", "B",
               "ZeRO on N GPUs, mixed-precision Adam: stage 0: 16P; 1: 4P + 12P/N; 2: 2P + 14P/N; 3: 16P/N",
               {"params", "gpus", "stage"}, {}, [](const FormulaArgs& a) {
                 const double P = a.at("params"), N = a.at("gpus");
                 switch (int(std::llround(a.at("stage")))) {
                   case 0: return 16 * P;
                   case 1: return 4 * P + 12 * P / N;
                   case 2: return 2 * P + 14 * P / N;
                   default: return 16 * P / N;
                 }
               }});
  v.push_back({"gradient_bytes", "B", "params value_bits/8: one gradient per parameter", {"params"},
               {{"value_bits", 32}}, [](const FormulaArgs& a) { return a.at("params") * a.at("value_bits") / 8; }});
  v.push_back({"loss_scale_needed", "x",
               "smallest power of two s with s g >= 2^-24 (fp16's smallest subnormal): keeps g from flushing to 0",
               {"gradient"}, {}, [](const FormulaArgs& a) {
                 return std::exp2(std::ceil(std::log2(std::exp2(-24.0) / a.at("gradient"))));
               }});

  v.push_back({"zero_bytes_sent_per_step", "B",
               "bytes each GPU sends per step in ring collectives, values of value_bits bits: stages 0-2: 2(N-1)/N P b/8 (a gradient allreduce, or reduce-scatter of gradients + allgather of parameters); 3: 3(N-1)/N P b/8 (parameters gathered for forward and again for backward)",
               {"params", "gpus", "stage"}, {{"value_bits", 16}}, [](const FormulaArgs& a) {
                 const double N = a.at("gpus"), n = a.at("params") * a.at("value_bits") / 8;
                 return (std::llround(a.at("stage")) >= 3 ? 3 : 2) * (N - 1) / N * n;
               }});
  v.push_back({"transformer_activation_bytes", "B",
               "layers s b h (34 + 5 a s/h): 16-bit activations a transformer keeps for backward (Korthikanti et al. 2022); recompute=1: only each layer's input, layers 2 s b h",
               {"seq", "batch", "hidden", "heads", "layers"}, {{"recompute", 0}}, [](const FormulaArgs& a) {
                 const double s = a.at("seq"), b = a.at("batch"), h = a.at("hidden"), L = a.at("layers");
                 if (a.at("recompute") != 0) return L * 2 * s * b * h;
                 return L * s * b * h * (34 + 5 * a.at("heads") * s / h);
               }});

  // ---- learning rate and batch size ----
  v.push_back({"linear_scaling_lr", "lr", "lr0 B / B0 (Goyal et al. 2017)", {"lr0", "batch0", "batch"}, {},
               [](const FormulaArgs& a) { return a.at("lr0") * a.at("batch") / a.at("batch0"); }});
  v.push_back({"sqrt_scaling_lr", "lr", "lr0 sqrt(B / B0) (often used with Adam)", {"lr0", "batch0", "batch"}, {},
               [](const FormulaArgs& a) { return a.at("lr0") * std::sqrt(a.at("batch") / a.at("batch0")); }});
  v.push_back({"warmup_lr", "lr", "lr (step+1)/warmup during warmup (steps counted from 0), then lr",
               {"lr", "step", "warmup"}, {}, [](const FormulaArgs& a) {
                 return a.at("step") < a.at("warmup") ? a.at("lr") * (a.at("step") + 1) / a.at("warmup") : a.at("lr");
               }});
  // dtlab train's own schedule (make_schedule, LrSchedule::lr): one implementation, not a copy.
  v.push_back({"cosine_lr", "lr",
               "the lr of step (from 0) as dtlab train --schedule cosine sets it: lr (step+1)/w while step < w = "
               "round(warmup_epochs steps_per_epoch), then lr_min + (lr - lr_min)(1 + cos(pi (step-w)/(T-w)))/2 "
               "up to T = epochs steps_per_epoch, lr_min = min_lr_ratio lr",
               {"lr", "step", "epochs", "steps_per_epoch"},
               {{"warmup_epochs", TrainConfig{}.warmup_epochs}, {"min_lr_ratio", ScheduleConfig{}.min_lr_ratio}},
               [](const FormulaArgs& a) {
                 TrainConfig cfg;
                 cfg.lr = a.at("lr");
                 cfg.epochs = int(std::llround(a.at("epochs")));
                 cfg.warmup_epochs = a.at("warmup_epochs");
                 cfg.schedule.kind = "cosine";
                 cfg.schedule.min_lr_ratio = a.at("min_lr_ratio");
                 return make_schedule(cfg, std::llround(a.at("steps_per_epoch"))).lr(std::llround(a.at("step")));
               }});
  v.push_back({"steps_per_epoch", "steps", "floor(samples / global batch)", {"samples", "batch"}, {},
               [](const FormulaArgs& a) { return std::floor(a.at("samples") / a.at("batch")); }});

  v.push_back({"lars_local_lr", "lr",
               "eta |w| / (|g| + weight_decay |w|): LARS's layer-wise learning-rate multiplier (You et al. 2017), times the global lr",
               {"w_norm", "g_norm"}, {{"eta", 0.001}, {"weight_decay", 0.0}}, [](const FormulaArgs& a) {
                 return a.at("eta") * a.at("w_norm") / (a.at("g_norm") + a.at("weight_decay") * a.at("w_norm"));
               }});

  // ---- speed-up and scaling ----
  v.push_back({"amdahl_speedup", "x", "1 / (s + (1-s)/p): speed-up with a serial fraction s", {"serial", "p"}, {},
               [](const FormulaArgs& a) { return 1 / (a.at("serial") + (1 - a.at("serial")) / a.at("p")); }});
  v.push_back({"gustafson_speedup", "x",
               "s + (1-s) p: scaled speed-up when the parallel part grows with p (weak scaling), serial fraction s measured on p",
               {"serial", "p"}, {}, [](const FormulaArgs& a) {
                 return a.at("serial") + (1 - a.at("serial")) * a.at("p");
               }});
  v.push_back({"scaling_efficiency", "fraction", "t1 / (p tp): strong scaling; samples/s: rate_p / (p rate_1)",
               {"t1", "tp", "p"}, {}, [](const FormulaArgs& a) { return a.at("t1") / (a.at("p") * a.at("tp")); }});
  v.push_back({"dp_step_time", "s",
               "compute + max(0, comm - overlappable): a data-parallel step whose allreduce hides behind `overlappable` seconds of backward",
               {"compute", "comm"}, {{"overlappable", 0.0}}, [](const FormulaArgs& a) {
                 return a.at("compute") + std::max(0.0, a.at("comm") - a.at("overlappable"));
               }});
  v.push_back({"sync_step_time_with_straggler", "s",
               "max over workers: a synchronous step waits for the slowest (t times slowdown)", {"t", "slowdown"}, {},
               [](const FormulaArgs& a) { return a.at("t") * std::max(1.0, a.at("slowdown")); }});
  v.push_back({"expected_max_exponential", "s",
               "t H_W = t (1 + 1/2 + ... + 1/W): expected slowest of W workers with exponential(mean t) delays",
               {"t", "workers"}, {}, [](const FormulaArgs& a) {
                 double h = 0;
                 for (long i = 1; i <= std::lround(a.at("workers")); ++i) h += 1.0 / double(i);
                 return a.at("t") * h;
               }});
  v.push_back({"async_mean_staleness", "updates",
               "W - 1: with W workers pushing in turn, each gradient was computed W-1 updates ago", {"workers"}, {},
               [](const FormulaArgs& a) { return a.at("workers") - 1; }});
  // ---- asynchronous and decentralized SGD (Lab 05) ----
  v.push_back({"async_delay_lr_bound", "lr*curvature",
               "2 cos(tau pi/(2 tau + 1)): SGD on a quadratic of curvature lambda whose every gradient is tau updates "
               "stale, x_{t+1} = x_t - a x_{t-tau}, converges iff 0 < a = lr lambda < this (Levin and May 1976): "
               "2 at tau = 0, 1 at 1, 0.445 at 3, about pi/(2 tau + 1) for large tau",
               {"staleness"}, {}, [](const FormulaArgs& a) {
                 const double tau = double(count_of(a, "staleness", 0));
                 return 2 * std::cos(tau * std::numbers::pi / (2 * tau + 1));
               }});
  v.push_back({"gossip_ring_lambda2", "per step",
               "(1 + 2 cos(2 pi/p))/3 for p >= 3: |lambda_2| of gossip's mixing matrix on a ring of p ranks (each "
               "averages itself and its distinct neighbours), the factor by which the ranks' distance to their mean "
               "shrinks per step; steps to shrink it by F: ln F / ln(1/lambda_2)",
               {"p"}, {}, [](const FormulaArgs& a) { return gossip_lambda2(1, count_of(a, "p", 1)); }});
  v.push_back({"gossip_torus_lambda2", "per step",
               "(1 + 2 cos(2 pi/rows) + 2)/5 for a square torus of side >= 3: |lambda_2| of gossip's mixing matrix "
               "on a rows x cols 2-D torus (each rank averages itself and its distinct neighbours above, below, "
               "left and right), the largest |1 + f(a) + f(b)|/(d + 1) over frequencies (a, b) != (0, 0)",
               {"rows", "cols"}, {}, [](const FormulaArgs& a) {
                 return gossip_lambda2(count_of(a, "rows", 1), count_of(a, "cols", 1));
               }});

  // ---- failures and checkpoints ----
  v.push_back({"cluster_mtbf", "s", "node MTBF / N: independent failures add up", {"node_mtbf", "nodes"}, {},
               [](const FormulaArgs& a) { return a.at("node_mtbf") / a.at("nodes"); }});
  v.push_back({"failure_probability", "fraction",
               "1 - exp(-N T / MTBF): at least one of N nodes fails during T", {"nodes", "duration", "node_mtbf"}, {},
               [](const FormulaArgs& a) {
                 return 1 - std::exp(-a.at("nodes") * a.at("duration") / a.at("node_mtbf"));
               }});
  v.push_back({"young_checkpoint_interval", "s",
               "sqrt(2 C M): Young's optimal time between checkpoints costing C, with MTBF M",
               {"checkpoint_cost", "mtbf"}, {}, [](const FormulaArgs& a) {
                 return std::sqrt(2 * a.at("checkpoint_cost") * a.at("mtbf"));
               }});
  v.push_back({"checkpoint_overhead_fraction", "fraction",
               "C/T + T/(2M): time writing checkpoints plus expected lost work per unit time",
               {"checkpoint_cost", "interval", "mtbf"}, {}, [](const FormulaArgs& a) {
                 return a.at("checkpoint_cost") / a.at("interval") + a.at("interval") / (2 * a.at("mtbf"));
               }});

  v.push_back({"checkpoint_write_time", "s",
               "bytes / bandwidth: writing (or reading) a checkpoint at the aggregate storage bandwidth",
               {"bytes", "bandwidth"}, {}, [](const FormulaArgs& a) { return a.at("bytes") / a.at("bandwidth"); }});

  // ---- compute ----
  v.push_back({"mlp_train_flops", "flop",
               "one Linear layer, forward + backward: 2 in out batch forward, twice that backward (dW and dx), once for the first layer (no dx)",
               {"in", "out", "batch"}, {{"first_layer", 0}}, [](const FormulaArgs& a) {
                 const double f = 2 * a.at("in") * a.at("out") * a.at("batch");
                 return f * (a.at("first_layer") != 0 ? 2 : 3);
               }});
  v.push_back({"transformer_train_flops", "flop", "6 N D: forward and backward of N parameters on D tokens",
               {"params", "tokens"}, {}, [](const FormulaArgs& a) { return 6 * a.at("params") * a.at("tokens"); }});
}

}  // namespace dtlab::detail
