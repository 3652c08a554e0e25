// Helpers shared by Lab 03's public and hidden tests and its benchmark: the test models, data,
// and the oracle every split model is compared with: the whole MLP's forward and backward
// computed independently in double precision, with a bound on how far any float32 computation of
// the same sums, in any order, can be from it. Test code may use the library collectives; the
// implementation under test may not.
#pragma once

#include <gtest/gtest.h>

#include "lab_test.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "dtlab/baseline.hpp"
#include "dtlab/error.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/rng.hpp"
#include "lab03/model_parallel.hpp"

namespace lab03::test {

using dtlab::labtest::for_each_size;
using dtlab::labtest::guarded;

// Five layers: two Megatron blocks (0-1 and 2-3, split widths 48 and 36, which 1, 2, 3 and 4
// divide) and a replicated last layer.
inline dtlab::MlpConfig tp_model() { return {.inputs = 36, .hidden = {48, 40, 36, 32}, .classes = 10}; }
// Eight layers: enough for 4 stages with 2 chunks each.
inline dtlab::MlpConfig pp_model() { return {.inputs = 36, .hidden = {40, 32, 32, 24, 24, 24, 16}, .classes = 10}; }

// A model with every parameter drawn from the seed: unlike Mlp::init, the biases are not 0, so a
// bias added twice, or never, changes the outputs.
inline dtlab::Mlp random_model(const dtlab::MlpConfig& config, std::uint64_t seed) {
  dtlab::Mlp m(config);
  dtlab::Rng rng(seed);
  for (const auto& s : m.layers()) {
    const float w = std::sqrt(6.0f / float(s.in));
    for (std::size_t i = s.weight; i < s.bias; ++i) m.params()[i] = rng.uniform(-w, w);
    for (std::size_t i = s.bias; i < s.end(); ++i) m.params()[i] = rng.uniform(-0.5f, 0.5f);
  }
  return m;
}

struct Batch {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  int size() const { return int(y.size()); }
};
inline Batch random_batch(const dtlab::MlpConfig& config, int n, std::uint64_t seed) {
  dtlab::Rng rng(seed);
  Batch b;
  b.x.resize(std::size_t(n) * std::size_t(config.inputs));
  for (float& v : b.x) v = rng.uniform(-1.0f, 1.0f);
  b.y.resize(std::size_t(n));
  for (auto& v : b.y) v = std::int32_t(rng.next() % std::uint64_t(config.classes));
  return b;
}

// The whole model's forward and backward on a batch in double precision: the exact loss, logits
// and gradient of the mean loss, computed independently of dtlab's layers. A float32 computation
// of the same sums in another order (blocked GEMM, split over ranks and added by an allreduce,
// accumulated over micro-batches) differs from them by rounding alone. Each value is a sum whose
// float32 rounding error is at most gamma(n) * (the sum of its terms' magnitudes), gamma(n) =
// n u / (1 - n u), u = 2^-24 (Higham, "Accuracy and Stability of Numerical Algorithms", 3.1); the
// errors its inputs bring from earlier layers are of the same kind, so n counts the roundings
// along the longest chain: every layer's dot products forward, the softmax, every layer's backward
// and the batch sum of dW, plus the extra additions of partial sums (ranks, micro-batches).
// bound() doubles it for second-order terms. It assumes each sum is not ill-conditioned, which
// He-initialised ReLU nets on random inputs are not, and that no ReLU input lies so close to 0
// that rounding could flip its mask: near_zero_relu counts those, and tests assert there are none
// in their data. The bound depends on no summation order, so it holds on any machine and BLAS;
// the measured errors are about 1/100 of it, and a wrong gradient is off by far more.
struct Oracle {
  std::vector<double> logits, logits_abs;
  std::vector<double> grads, grads_abs;  // in the whole Mlp's layout
  double loss = 0;
  int chain = 0;           // n above, before the extra additions
  int near_zero_relu = 0;  // ReLU inputs within rounding of 0, whose mask a float32 run may flip

  double gamma(int extra) const {
    const double nu = double(chain + extra) * std::ldexp(1.0, -24);
    return nu / (1 - nu);
  }
  // The allowed |float32 - exact| of gradient i when the sums are also split into `extra` more pieces.
  double bound(std::size_t i, int extra) const { return 2 * gamma(extra) * grads_abs[i] + 1e-30; }
  double logit_bound(std::size_t i, int extra) const { return 2 * gamma(extra) * logits_abs[i] + 1e-30; }
};

// (chain_batch: the batch size the chain counts, when it differs from n: a sample checked alone.)
inline Oracle oracle(const dtlab::Mlp& model, const float* x, const std::int32_t* y, int n, int chain_batch = 0) {
  const auto& L = model.layers();
  const auto P = model.params();
  const int layers = int(L.size());
  Oracle o;
  o.chain = model.config().classes + (chain_batch > 0 ? chain_batch : n) + 4;
  for (const auto& s : L) o.chain += s.in + s.out;
  // acts[l]: the input of layer l (acts[0] = x, after it each layer's output after its ReLU);
  // mags[l]: the sum of the magnitudes of the terms each of them adds up (|x| for the data).
  std::vector<std::vector<double>> acts(std::size_t(layers) + 1), mags(acts.size());
  acts[0].assign(x, x + std::size_t(n) * std::size_t(L[0].in));
  for (const double v : acts[0]) mags[0].push_back(std::abs(v));
  for (int l = 0; l < layers; ++l) {
    const auto& s = L[std::size_t(l)];
    auto& z = acts[std::size_t(l) + 1];
    z.assign(std::size_t(n) * std::size_t(s.out), 0.0);
    auto& zm = mags[std::size_t(l) + 1];
    zm.assign(z.size(), 0.0);
    for (int b = 0; b < n; ++b)
      for (int o2 = 0; o2 < s.out; ++o2) {
        double sum = P[s.bias + std::size_t(o2)], sum_abs = std::abs(sum);
        for (int i = 0; i < s.in; ++i) {
          const double t = double(P[s.weight + std::size_t(o2) * std::size_t(s.in) + std::size_t(i)]) *
                           acts[std::size_t(l)][std::size_t(b) * std::size_t(s.in) + std::size_t(i)];
          sum += t;
          sum_abs += std::abs(t);
        }
        const std::size_t k = std::size_t(b) * std::size_t(s.out) + std::size_t(o2);
        if (l + 1 < layers) {
          if (std::abs(sum) <= 4 * o.gamma(16) * sum_abs) ++o.near_zero_relu;
          if (sum <= 0) sum = 0, sum_abs = 0;
        }
        z[k] = sum;
        zm[k] = sum_abs;
      }
  }
  const int classes = model.config().classes;
  o.logits = acts.back();
  o.logits_abs = mags.back();
  // Softmax cross-entropy, mean over the batch: dlogits = (softmax - onehot) / n, with magnitude
  // (softmax + onehot) / n.
  std::vector<double> d(std::size_t(n) * std::size_t(classes)), dm(d.size());
  for (int b = 0; b < n; ++b) {
    const double* z = o.logits.data() + std::size_t(b) * std::size_t(classes);
    const double mx = *std::max_element(z, z + classes);
    double sum = 0;
    for (int c = 0; c < classes; ++c) sum += std::exp(z[c] - mx);
    o.loss += (std::log(sum) + mx - z[y[b]]) / n;
    for (int c = 0; c < classes; ++c) {
      const double pr = std::exp(z[c] - mx) / sum, hot = c == y[b] ? 1.0 : 0.0;
      d[std::size_t(b) * std::size_t(classes) + std::size_t(c)] = (pr - hot) / n;
      dm[std::size_t(b) * std::size_t(classes) + std::size_t(c)] = (pr + hot) / n;
    }
  }
  o.grads.assign(model.num_params(), 0.0);
  o.grads_abs.assign(model.num_params(), 0.0);
  for (int l = layers - 1; l >= 0; --l) {
    const auto& s = L[std::size_t(l)];
    const auto& in = acts[std::size_t(l)];
    const auto& in_mag = mags[std::size_t(l)];
    for (int b = 0; b < n; ++b)
      for (int o2 = 0; o2 < s.out; ++o2) {
        const std::size_t k = std::size_t(b) * std::size_t(s.out) + std::size_t(o2);
        o.grads[s.bias + std::size_t(o2)] += d[k];
        o.grads_abs[s.bias + std::size_t(o2)] += dm[k];
        for (int i = 0; i < s.in; ++i) {
          const std::size_t w = s.weight + std::size_t(o2) * std::size_t(s.in) + std::size_t(i);
          const std::size_t a = std::size_t(b) * std::size_t(s.in) + std::size_t(i);
          o.grads[w] += d[k] * in[a];
          o.grads_abs[w] += dm[k] * in_mag[a];
        }
      }
    if (l == 0) break;
    std::vector<double> dx(std::size_t(n) * std::size_t(s.in), 0.0), dxm(dx.size(), 0.0);
    for (int b = 0; b < n; ++b)
      for (int i = 0; i < s.in; ++i) {
        const std::size_t k = std::size_t(b) * std::size_t(s.in) + std::size_t(i);
        if (in[k] <= 0) continue;  // the previous layer's ReLU
        for (int o2 = 0; o2 < s.out; ++o2) {
          const double w = P[s.weight + std::size_t(o2) * std::size_t(s.in) + std::size_t(i)];
          dx[k] += d[std::size_t(b) * std::size_t(s.out) + std::size_t(o2)] * w;
          dxm[k] += std::abs(d[std::size_t(b) * std::size_t(s.out) + std::size_t(o2)] * w);
        }
      }
    d = std::move(dx);
    dm = std::move(dxm);
  }
  return o;
}
inline Oracle oracle(const dtlab::Mlp& model, const Batch& b) {
  return oracle(model, b.x.data(), b.y.data(), b.size());
}

// A random model (random_model) and a batch of n samples with their oracle, where no sample puts
// a ReLU input within rounding of 0: a sample that does is drawn again (a few in a hundred are,
// depending on the widths). On another machine another sample may be redrawn; the test holds there too.
struct Case {
  dtlab::Mlp model;
  Batch batch;
  Oracle oracle;
};
inline Case clean_case(const dtlab::MlpConfig& config, int n, std::uint64_t seed) {
  Case c{random_model(config, seed), {}, {}};
  dtlab::Rng rng(seed + 1);
  const std::size_t in = std::size_t(config.inputs);
  c.batch.x.resize(std::size_t(n) * in);
  c.batch.y.resize(std::size_t(n));
  for (std::size_t b = 0; b < std::size_t(n); ++b)
    for (int tries = 0;; ++tries) {
      if (tries == 1000) throw dtlab::Error("clean_case: no sample without a ReLU input near 0 in 1000 draws");
      for (std::size_t i = 0; i < in; ++i) c.batch.x[b * in + i] = float(rng.uniform(-1.0, 1.0));
      c.batch.y[b] = std::int32_t(rng.next() % std::uint64_t(config.classes));
      if (oracle(c.model, c.batch.x.data() + b * in, c.batch.y.data() + b, 1, n).near_zero_relu == 0) break;
    }
  c.oracle = oracle(c.model, c.batch);
  return c;
}

// The first of `values` (float32, in the whole model's layout at `at`) outside the oracle's bound,
// described, or "" when all are within it. extra: the sums' additional pieces (ranks, micro-batches).
inline std::string outside_bound(const Oracle& o, std::span<const float> values, std::size_t at,
                                 int extra, const std::string& what) {
  for (std::size_t i = 0; i < values.size(); ++i) {
    const double err = std::abs(double(values[i]) - o.grads[at + i]);
    if (!(err <= o.bound(at + i, extra)))
      return testing::PrintToString(what) + ": parameter " + std::to_string(at + i) + " has gradient " +
             testing::PrintToString(values[i]) + ", the exact value is " + testing::PrintToString(o.grads[at + i]) +
             " (allowed error " + testing::PrintToString(o.bound(at + i, extra)) + ")";
  }
  return "";
}

// Compares this rank's gradient blocks (tp.grads()) with the oracle's gradients of the same
// parameters. extra: as outside_bound's.
inline void expect_gradients_match(const TensorParallelMlp& tp, const dtlab::Mlp& whole, const Oracle& o, int extra) {
  for (std::size_t l = 0; l < tp.layers().size(); ++l) {
    const auto& L = tp.layers()[l];
    const auto& s = whole.layers()[l];
    const int cols = L.shard.in.size();
    for (int r = L.shard.out.begin; r < L.shard.out.end; ++r) {
      const std::size_t at = s.weight + std::size_t(r) * std::size_t(s.in) + std::size_t(L.shard.in.begin);
      const auto row = tp.grads().subspan(L.weight + std::size_t(r - L.shard.out.begin) * std::size_t(cols), std::size_t(cols));
      const std::string bad = outside_bound(o, row, at, extra, "layer " + std::to_string(l) + " weight row " + std::to_string(r));
      ASSERT_EQ(bad, "");
    }
    const std::string bad = outside_bound(o, tp.grads().subspan(L.bias, L.shard.bias_size()),
                                          s.bias + std::size_t(L.shard.out.begin), extra,
                                          "layer " + std::to_string(l) + " bias");
    ASSERT_EQ(bad, "");
  }
}

// f() must throw dtlab::Error: a refusal with a message, not the starter's NotImplemented.
template <class F>
void expect_refused(F&& f, const std::string& what) {
  try {
    f();
    ADD_FAILURE() << what << ": no error";
  } catch (const dtlab::NotImplemented& e) {
    ADD_FAILURE() << what << ": " << e.what();
  } catch (const dtlab::Error&) {
  }
}

// max |a - b| / max |b|: an error relative to the parameters' scale.
inline double relative_difference(std::span<const float> a, std::span<const float> b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    diff = std::max(diff, std::abs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::abs(double(b[i])));
  }
  return a.size() == b.size() ? diff / std::max(scale, 1e-30) : INFINITY;
}

// True on every rank when every rank passed true.
inline bool all_ranks(const dtlab::Comm& comm, bool mine) {
  std::int32_t v[1] = {mine ? 1 : 0};
  dtlab::baseline::allreduce(comm, std::span<std::int32_t>(v), dtlab::ReduceOp::min);
  return v[0] == 1;
}

// The optimizer every training test uses, at a learning rate small enough that two summation
// orders of the same gradients stay within 1e-5 of the parameters' scale over a few steps
// (docs/core.md: at larger rates the first steps are chaotic and amplify rounding).
inline dtlab::OptimizerConfig optimizer_config() {
  return {.name = "sgd", .momentum = 0.9, .nesterov = true, .weight_decay = 5e-4};
}
constexpr double kTrainLr = 0.05;
constexpr double kTrainTolerance = 1e-5;

// The oracle of k training steps: the whole model, one process, the same batches and optimizer.
inline std::vector<float> train_whole(dtlab::Mlp model, const std::vector<Batch>& batches) {
  auto opt = dtlab::make_optimizer(optimizer_config(), model.num_params());
  for (const Batch& b : batches) {
    model.forward_backward(b.x, b.y);
    opt->step(model.params(), model.grads(), kTrainLr);
  }
  return {model.params().begin(), model.params().end()};
}

}  // namespace lab03::test
