// Communication: collectives under the alpha-beta-gamma model (the same functions the cost
// model's replay prices library collectives with), bandwidth figures, parameter-server traffic, and
// the wait of a synchronous step with backup workers.
#include <algorithm>
#include <cmath>
#include <limits>

#include "dtlab/costmodel.hpp"
#include "dtlab/formulas.hpp"

namespace dtlab::detail {

namespace {

CostModel model_of(const FormulaArgs& a) {
  CostModel m;
  m.alpha = a.at("alpha");
  m.beta = a.at("beta");
  m.gamma = a.at("gamma");
  return m;
}

int ranks(const FormulaArgs& a) { return int(std::llround(a.at("p"))); }
double log2ceil(double p) { return p <= 1 ? 0 : std::ceil(std::log2(p)); }

}  // namespace

void add_collective_formulas(std::vector<Formula>& v) {
  const std::vector<std::string> pn{"p", "bytes", "alpha", "beta"};
  const FormulaArgs no_gamma{{"gamma", 0.0}};
  v.push_back({"ring_allreduce_time", "s",
               "2(p-1) alpha + 2 (p-1)/p n beta + (p-1)/p n gamma: reduce-scatter then allgather around a ring",
               pn, no_gamma,
               [](const FormulaArgs& a) { return ring_allreduce_cost(ranks(a), a.at("bytes"), model_of(a)); }});
  v.push_back({"recursive_doubling_allreduce_time", "s",
               "ceil(log2 p) (alpha + n beta + n gamma): every round exchanges the whole vector", pn, no_gamma,
               [](const FormulaArgs& a) {
                 return recursive_doubling_allreduce_cost(ranks(a), a.at("bytes"), model_of(a));
               }});
  v.push_back({"rabenseifner_allreduce_time", "s",
               "2 log2(p) alpha + 2 (p-1)/p n beta + (p-1)/p n gamma (p a power of two): halving then doubling",
               pn, no_gamma, [](const FormulaArgs& a) {
                 const double p = a.at("p"), n = a.at("bytes"), f = (p - 1) / p;
                 return 2 * log2ceil(p) * a.at("alpha") + 2 * f * n * a.at("beta") + f * n * a.at("gamma");
               }});
  v.push_back({"naive_allreduce_time", "s",
               "2(p-1)(alpha + n beta) + (p-1) n gamma: everyone sends to rank 0, which adds and sends back",
               pn, no_gamma, [](const FormulaArgs& a) {
                 const double p = a.at("p"), n = a.at("bytes");
                 return 2 * (p - 1) * (a.at("alpha") + n * a.at("beta")) + (p - 1) * n * a.at("gamma");
               }});
  v.push_back({"best_allreduce_time", "s",
               "min(recursive doubling, ring): what the cost model charges a library allreduce", pn, no_gamma,
               [](const FormulaArgs& a) { return collective_cost("allreduce", ranks(a), a.at("bytes"), model_of(a)); }});
  v.push_back({"tree_broadcast_time", "s", "ceil(log2 p) (alpha + n beta): binomial tree", pn, no_gamma,
               [](const FormulaArgs& a) { return collective_cost("broadcast", ranks(a), a.at("bytes"), model_of(a)); }});
  v.push_back({"ring_broadcast_time", "s",
               "(p-1)(alpha + n beta): a chain without pipelining (the naive ring broadcast)", pn, {},
               [](const FormulaArgs& a) { return (a.at("p") - 1) * (a.at("alpha") + a.at("bytes") * a.at("beta")); }});
  v.push_back({"ring_allgather_time", "s",
               "(p-1) alpha + (p-1)/p n beta, n = bytes gathered in all", pn, {}, [](const FormulaArgs& a) {
                 const double p = a.at("p");
                 return (p - 1) * a.at("alpha") + (p - 1) / p * a.at("bytes") * a.at("beta");
               }});
  v.push_back({"ring_reduce_scatter_time", "s",
               "(p-1) alpha + (p-1)/p n (beta + gamma), n = bytes of the whole vector", pn, no_gamma,
               [](const FormulaArgs& a) {
                 const double p = a.at("p");
                 return (p - 1) * a.at("alpha") + (p - 1) / p * a.at("bytes") * (a.at("beta") + a.at("gamma"));
               }});
  v.push_back({"ring_allreduce_bytes_sent", "B",
               "2 (p-1)/p n: bytes each rank sends in a ring allreduce (independent of p as p grows)",
               {"p", "bytes"}, {}, [](const FormulaArgs& a) {
                 const double p = a.at("p");
                 return 2 * (p - 1) / p * a.at("bytes");
               }});
  v.push_back({"allreduce_crossover_bytes", "B",
               "(2(p-1) - ceil(log2 p)) alpha / (ceil(log2 p)(beta + gamma) - (p-1)/p (2 beta + gamma)): the size "
               "below which recursive doubling beats the ring (infinite when it always does)",
               {"p", "alpha", "beta"}, no_gamma, [](const FormulaArgs& a) {
                 const double p = a.at("p"), L = log2ceil(p), f = (p - 1) / p;
                 const double beta = a.at("beta"), gamma = a.at("gamma");
                 if (p <= 1) return 0.0;
                 const double per_byte = L * (beta + gamma) - f * (2 * beta + gamma);
                 if (per_byte <= 0) return std::numeric_limits<double>::infinity();
                 return (2 * (p - 1) - L) * a.at("alpha") / per_byte;
               }});
  v.push_back({"bucketed_ring_allreduce_time", "s",
               "k ring allreduces of n/k bytes one after another: 2k(p-1) alpha + 2 (p-1)/p n beta + (p-1)/p n gamma "
               "(more buckets: more latency, the same bandwidth)",
               {"p", "bytes", "buckets", "alpha", "beta"}, no_gamma, [](const FormulaArgs& a) {
                 const double k = std::max(1.0, std::round(a.at("buckets")));
                 return k * ring_allreduce_cost(ranks(a), a.at("bytes") / k, model_of(a));
               }});
  v.push_back({"message_time", "s", "alpha + n beta: one message of n bytes", {"bytes", "alpha", "beta"}, {},
               [](const FormulaArgs& a) { return a.at("alpha") + a.at("bytes") * a.at("beta"); }});
  v.push_back({"half_bandwidth_bytes", "B",
               "alpha / beta: the message size at which latency and bandwidth cost the same (n_1/2)",
               {"alpha", "beta"}, {}, [](const FormulaArgs& a) { return a.at("alpha") / a.at("beta"); }});
  v.push_back({"algbw", "B/s", "n / t: bytes of the vector over the time (nccl-tests' algbw)",
               {"bytes", "seconds"}, {}, [](const FormulaArgs& a) { return a.at("bytes") / a.at("seconds"); }});
  v.push_back({"busbw", "B/s",
               "n / t * 2(p-1)/p: allreduce algbw scaled to what each link carries (nccl-tests' busbw)",
               {"p", "bytes", "seconds"}, {}, [](const FormulaArgs& a) {
                 const double p = a.at("p");
                 return a.at("bytes") / a.at("seconds") * 2 * (p - 1) / p;
               }});
  // Parameter servers: W workers push n bytes of gradient and pull n bytes of parameters per
  // step; S servers each hold 1/S of the model.
  v.push_back({"ps_server_bytes", "B",
               "2 W n / S: bytes one server receives plus sends per step (W workers, S servers)",
               {"workers", "servers", "bytes"}, {}, [](const FormulaArgs& a) {
                 return 2 * a.at("workers") * a.at("bytes") / a.at("servers");
               }});
  v.push_back({"ps_worker_bytes", "B", "2 n: bytes one worker pushes plus pulls per step", {"bytes"}, {},
               [](const FormulaArgs& a) { return 2 * a.at("bytes"); }});
  v.push_back({"ps_hot_server_bytes", "B",
               "2 W n share: bytes one server receives plus sends per step when it holds that share of the "
               "parameters (1/S when balanced; the step waits for the busiest server)",
               {"workers", "bytes", "share"}, {}, [](const FormulaArgs& a) {
                 return 2 * a.at("workers") * a.at("bytes") * a.at("share");
               }});
  // How long the busiest server link needs depends on whether pushes and pulls overlap. With
  // overlap=1 the server streams each chunk's update back while other chunks are still arriving
  // (BytePS, ps-lite with fine-grained keys): on a full-duplex link the two directions run at once,
  // W n / S each. With overlap=0 a BSP server waits for every push before it serves any pull, so
  // the two directions run one after the other: 2 W n / S.
  v.push_back({"ps_servers_to_match_ring", "servers",
               "W^2 / (2(W-1)) with overlap=1, W^2/(W-1) with overlap=0: servers S at which the busiest server "
               "link's time per step equals a ring allreduce's over the W workers (2 (W-1)/W n per direction, "
               "both directions at once)",
               {"workers", "overlap"}, {}, [](const FormulaArgs& a) {
                 const double w = a.at("workers");
                 return w <= 1 ? 0.0 : (a.at("overlap") != 0 ? 1.0 : 2.0) * w * w / (2 * (w - 1));
               }});
  v.push_back({"ps_step_comm_time", "s",
               "W n / (S bandwidth) when pushes and pulls overlap chunk by chunk (overlap=1, BytePS), "
               "2 W n / (S bandwidth) when a BSP server serves pulls only after every push (overlap=0): "
               "the busiest server link per step, alpha ignored",
               {"workers", "servers", "bytes", "bandwidth", "overlap"}, {}, [](const FormulaArgs& a) {
                 const double one_way = a.at("workers") * a.at("bytes") / (a.at("servers") * a.at("bandwidth"));
                 return a.at("overlap") != 0 ? one_way : 2 * one_way;
               }});

  // Synchronous steps that wait for the first W of W + b workers (backup workers, Chen et al.
  // 2016): the W-th fastest of W + b exponential delays.
  v.push_back({"expected_wait_with_backups", "s",
               "t (H_{W+b} - H_b): expected time until the first W of W + b workers have finished, delays "
               "exponential with mean t (b = 0: the slowest of W, t H_W)",
               {"t", "workers", "backups"}, {}, [](const FormulaArgs& a) {
                 const long w = std::lround(a.at("workers")), b = std::lround(a.at("backups"));
                 double h = 0;
                 for (long i = b + 1; i <= w + b; ++i) h += 1.0 / double(i);
                 return a.at("t") * h;
               }});
}

}  // namespace dtlab::detail
