// Helpers shared by Lab 00's public and hidden tests. Test code may use the op log and the
// library collectives (it is not a submission); the implementations under test may not.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dtlab/baseline.hpp"
#include "dtlab/data.hpp"
#include "dtlab/error.hpp"
#include "dtlab/gradcheck.hpp"
#include "dtlab/layers.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/oplog.hpp"
#include "dtlab/rng.hpp"
#include "dtlab/train.hpp"
#include "lab00/warmup.hpp"

namespace lab00::test {

using dtlab::Comm;
using dtlab::ConstVecMap;

// Largest relative error a correct float backward pass shows against central differences with
// the step sizes used here (the core's own tests use the same bound).
constexpr double kGradTolerance = 2e-2;

inline std::vector<float> randn(std::size_t n, std::uint64_t seed, float scale = 1.0f) {
  dtlab::Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = scale * float(rng.normal());
  return v;
}

inline std::vector<std::int32_t> random_labels(std::size_t n, int classes, std::uint64_t seed) {
  dtlab::Rng rng(seed);
  std::vector<std::int32_t> y(n);
  for (auto& v : y) v = std::int32_t(rng.below(std::uint64_t(classes)));
  return y;
}

// ---- Part 1 ----

struct Shape {
  int batch, in, out;
};
inline std::ostream& operator<<(std::ostream& os, const Shape& s) {
  return os << "batch=" << s.batch << " in=" << s.in << " out=" << s.out;
}

// A gradient check result as a gtest assertion, with the checker's own description on failure.
inline testing::AssertionResult passes(const dtlab::GradCheckResult& r, const char* what) {
  if (r.ok(kGradTolerance)) return testing::AssertionSuccess();
  return testing::AssertionFailure() << what << " does not match finite differences: " << r.describe();
}

// Checks lab00::linear_backward on one shape: L = sum(g * y) for a random upstream gradient g, so
// dL/dy = g, and w, b and x are each checked against central differences of the core's forward.
inline void gradcheck_linear(const Shape& s, std::uint64_t seed) {
  SCOPED_TRACE(testing::Message() << s << " seed=" << seed);
  auto x = randn(std::size_t(s.batch) * s.in, seed), w = randn(std::size_t(s.out) * s.in, seed + 1),
       b = randn(std::size_t(s.out), seed + 2);
  const auto g = randn(std::size_t(s.batch) * s.out, seed + 3);
  // Junk in the outputs: a backward pass must overwrite them, not add to them.
  std::vector<float> y(g.size()), dw(w.size(), 7.0f), db(b.size(), 7.0f), dx(x.size(), 7.0f);
  MatMap dxm(dx.data(), s.batch, s.in);
  linear_backward(ConstMatMap(x.data(), s.batch, s.in), ConstMatMap(w.data(), s.out, s.in),
                  ConstMatMap(g.data(), s.batch, s.out), MatMap(dw.data(), s.out, s.in), VecMap(db.data(), s.out),
                  &dxm);
  auto loss_at = [&](std::span<const float>) {
    dtlab::linear_forward(ConstMatMap(x.data(), s.batch, s.in), ConstMatMap(w.data(), s.out, s.in),
                          ConstVecMap(b.data(), s.out), MatMap(y.data(), s.batch, s.out));
    double l = 0;
    for (std::size_t i = 0; i < y.size(); ++i) l += double(g[i]) * y[i];
    return l;
  };
  EXPECT_TRUE(passes(dtlab::check_gradient(loss_at, w, dw), "dw"));
  EXPECT_TRUE(passes(dtlab::check_gradient(loss_at, b, db), "db"));
  EXPECT_TRUE(passes(dtlab::check_gradient(loss_at, x, dx), "dx"));
}

// The same gradients by the definition, one product at a time, in double.
struct LinearGrads {
  std::vector<double> dw, db, dx;
};
inline LinearGrads naive_linear_backward(const std::vector<float>& x, const std::vector<float>& w,
                                         const std::vector<float>& dy, const Shape& s) {
  LinearGrads r{std::vector<double>(w.size()), std::vector<double>(std::size_t(s.out)), std::vector<double>(x.size())};
  for (int n = 0; n < s.batch; ++n)
    for (int o = 0; o < s.out; ++o) {
      const double g = dy[std::size_t(n) * s.out + o];
      r.db[o] += g;
      for (int i = 0; i < s.in; ++i) {
        r.dw[std::size_t(o) * s.in + i] += g * x[std::size_t(n) * s.in + i];
        r.dx[std::size_t(n) * s.in + i] += g * w[std::size_t(o) * s.in + i];
      }
    }
  return r;
}

// got equals want up to float rounding of sums of `terms` products of numbers of order one.
inline testing::AssertionResult close_to(std::span<const float> got, const std::vector<double>& want, int terms,
                                         const char* what) {
  const double tol = 1e-5 * (1 + terms);
  std::size_t wrong = 0, at = 0;
  for (std::size_t i = 0; i < want.size(); ++i)
    if (!(std::abs(double(got[i]) - want[i]) <= tol * (1 + std::abs(want[i]))) && wrong++ == 0) at = i;
  if (wrong == 0) return testing::AssertionSuccess();
  return testing::AssertionFailure() << what << ": " << wrong << " of " << want.size()
                                     << " elements differ from the definition; the first is element " << at
                                     << ": got " << got[at] << ", expected " << want[at];
}

// Calls linear_backward on random inputs of shape s and compares every output with the
// definition. With with_dx false, dx is null and only dw and db are compared.
inline void compare_linear_with_definition(const Shape& s, std::uint64_t seed, bool with_dx) {
  SCOPED_TRACE(testing::Message() << s << " seed=" << seed << (with_dx ? "" : " dx=nullptr"));
  const auto x = randn(std::size_t(s.batch) * s.in, seed), w = randn(std::size_t(s.out) * s.in, seed + 1),
             dy = randn(std::size_t(s.batch) * s.out, seed + 2);
  std::vector<float> dw(w.size(), -3.0f), db(std::size_t(s.out), -3.0f), dx(x.size(), -3.0f);
  MatMap dxm(dx.data(), s.batch, s.in);
  linear_backward(ConstMatMap(x.data(), s.batch, s.in), ConstMatMap(w.data(), s.out, s.in),
                  ConstMatMap(dy.data(), s.batch, s.out), MatMap(dw.data(), s.out, s.in), VecMap(db.data(), s.out),
                  with_dx ? &dxm : nullptr);
  const LinearGrads want = naive_linear_backward(x, w, dy, s);
  EXPECT_TRUE(close_to(dw, want.dw, s.batch, "dw = dy^T x"));
  EXPECT_TRUE(close_to(db, want.db, s.batch, "db = column sums of dy"));
  if (with_dx) {
    EXPECT_TRUE(close_to(dx, want.dx, s.out, "dx = dy w"));
  }
}

// z away from ReLU's kink at 0, where no finite difference agrees with any derivative.
inline std::vector<float> off_the_kink(std::size_t n, std::uint64_t seed) {
  auto z = randn(n, seed);
  for (auto& v : z) v += v > 0 ? 0.2f : -0.2f;
  return z;
}

// Checks lab00::relu_backward on rows x cols: L = sum(g * relu(z)).
inline void gradcheck_relu(int rows, int cols, std::uint64_t seed) {
  SCOPED_TRACE(testing::Message() << "rows=" << rows << " cols=" << cols << " seed=" << seed);
  auto z = off_the_kink(std::size_t(rows) * cols, seed);
  const auto g = randn(z.size(), seed + 1);
  std::vector<float> y(z), dz(g);
  dtlab::relu_forward(MatMap(y.data(), rows, cols));
  relu_backward(ConstMatMap(y.data(), rows, cols), MatMap(dz.data(), rows, cols));
  auto loss_at = [&](std::span<const float> zz) {
    std::vector<float> a(zz.begin(), zz.end());
    dtlab::relu_forward(MatMap(a.data(), rows, cols));
    double l = 0;
    for (std::size_t i = 0; i < a.size(); ++i) l += double(g[i]) * a[i];
    return l;
  };
  EXPECT_TRUE(passes(dtlab::check_gradient(loss_at, z, dz), "dz"));
}

// Softmax cross-entropy by the definition, in double: the mean loss and dlogits.
struct SoftmaxCe {
  double loss = 0;
  std::vector<double> dlogits;
};
template <class T>
SoftmaxCe softmax_ce_by_definition(const std::vector<T>& logits, const std::vector<std::int32_t>& labels, int classes) {
  const std::size_t batch = labels.size();
  SoftmaxCe r{0, std::vector<double>(logits.size())};
  for (std::size_t i = 0; i < batch; ++i) {
    const T* z = &logits[i * classes];
    const double m = *std::max_element(z, z + classes);
    double sum = 0;
    for (int j = 0; j < classes; ++j) sum += std::exp(double(z[j]) - m);
    r.loss += m + std::log(sum) - z[labels[i]];
    for (int j = 0; j < classes; ++j)
      r.dlogits[i * classes + j] = (std::exp(double(z[j]) - m) / sum - (j == labels[i])) / double(batch);
  }
  r.loss /= double(batch);
  return r;
}

// Calls lab00::softmax_cross_entropy; dlogits starts as junk, which must be overwritten.
inline float call_softmax_ce(const std::vector<float>& logits, const std::vector<std::int32_t>& labels, int classes,
                             std::vector<float>& dlogits) {
  const int batch = int(labels.size());
  dlogits.assign(logits.size(), 5.0f);
  return softmax_cross_entropy(ConstMatMap(logits.data(), batch, classes), labels,
                               MatMap(dlogits.data(), batch, classes));
}

// Checks lab00::softmax_cross_entropy on batch x classes logits of the given scale: its loss and
// dlogits against the definition, dlogits against finite differences of the core's loss, and each
// row of dlogits summing to 0.
inline void check_softmax_ce(int batch, int classes, float scale, std::uint64_t seed) {
  SCOPED_TRACE(testing::Message() << "batch=" << batch << " classes=" << classes << " scale=" << scale
                                  << " seed=" << seed);
  auto logits = randn(std::size_t(batch) * classes, seed, scale);
  const auto labels = random_labels(std::size_t(batch), classes, seed + 1);
  std::vector<float> d;
  const float loss = call_softmax_ce(logits, labels, classes, d);
  const SoftmaxCe want = softmax_ce_by_definition(logits, labels, classes);
  EXPECT_NEAR(loss, want.loss, 1e-5 * (1 + std::abs(want.loss))) << "the mean loss over the batch";
  EXPECT_TRUE(close_to(d, want.dlogits, classes, "dlogits = (softmax - onehot) / batch"));
  for (int i = 0; i < batch; ++i) {
    double row = 0;
    for (int j = 0; j < classes; ++j) row += d[std::size_t(i) * classes + j];
    EXPECT_NEAR(row, 0.0, 1e-6) << "row " << i << " of dlogits must sum to 0 (softmax sums to 1, onehot too)";
  }
  // The loss in double: a float loss's rounding noise, divided by the step, would be as large as
  // the gradients of many classes.
  auto loss_at = [&](std::span<const float>) { return softmax_ce_by_definition(logits, labels, classes).loss; };
  EXPECT_TRUE(passes(dtlab::check_gradient(loss_at, logits, d, 1e-2), "dlogits"));
}

// A small MLP that trains with the student's backward passes. Its parameters get random noise on
// top of init(), biases included: with zero biases a sample that silences every unit of a layer
// puts the next layer exactly on ReLU's kink, where no finite difference agrees with any
// derivative.
inline dtlab::Mlp checkable_mlp(dtlab::MlpConfig config, std::uint64_t seed) {
  dtlab::Mlp m(std::move(config));
  m.init(seed);
  dtlab::Rng rng(seed + 100);
  for (float& p : m.params()) p += 0.1f * float(rng.normal());
  m.set_layer_ops(lab00::layer_ops());
  return m;
}

// The MLP's mean loss on (x, y), computed in double from its float parameters by the definition
// of its layers. The finite differences of a float loss carry rounding noise of about
// 1e-7 * loss / h, as large as the smallest gradients of a deep MLP.
inline double mlp_loss_in_double(const dtlab::Mlp& m, const std::vector<float>& x, const std::vector<std::int32_t>& y) {
  const std::size_t batch = y.size();
  const auto p = m.params();
  std::vector<double> in(x.begin(), x.end()), out;
  for (std::size_t l = 0; l < m.layers().size(); ++l) {
    const auto& s = m.layers()[l];
    const bool relu = l + 1 < m.layers().size();
    out.assign(batch * s.out, 0.0);
    for (std::size_t n = 0; n < batch; ++n)
      for (int o = 0; o < s.out; ++o) {
        double v = p[s.bias + o];
        for (int i = 0; i < s.in; ++i) v += double(p[s.weight + std::size_t(o) * s.in + i]) * in[n * s.in + i];
        out[n * s.out + o] = relu ? std::max(v, 0.0) : v;
      }
    in.swap(out);
  }
  return softmax_ce_by_definition(in, y, m.config().classes).loss;
}

// Every parameter of an MLP trained with the student's ops against central differences of its
// mean loss, after a backward on a random batch. A backward on another batch comes first, as in
// training, where the gradient buffer always holds the last step's gradients.
inline void gradcheck_mlp(const dtlab::MlpConfig& config, int batch, std::uint64_t seed) {
  SCOPED_TRACE(testing::Message() << "MLP " << config.describe() << " batch=" << batch << " seed=" << seed);
  dtlab::Mlp m = checkable_mlp(config, seed);
  m.forward_backward(randn(std::size_t(batch) * config.inputs, seed + 3),
                     random_labels(std::size_t(batch), config.classes, seed + 4));
  const auto x = randn(std::size_t(batch) * config.inputs, seed + 1);
  const auto y = random_labels(std::size_t(batch), config.classes, seed + 2);
  m.forward_backward(x, y);
  const std::vector<float> grads(m.grads().begin(), m.grads().end());
  auto loss_at = [&](std::span<const float>) { return mlp_loss_in_double(m, x, y); };
  const dtlab::GradCheckResult r = dtlab::check_gradient(loss_at, m.params(), grads, 1e-3, 0, 1e-2);
  EXPECT_TRUE(passes(r, "the MLP's gradient"));
  EXPECT_EQ(r.checked, m.num_params());
}

// Fashion-MNIST, or a failure that says how to install it.
inline std::optional<dtlab::DataSplit> fashion_mnist() {
  const auto dir = dtlab::default_fashion_mnist_dir();
  if (!std::filesystem::exists(dir / "train-images-idx3-ubyte.gz") &&
      !std::filesystem::exists(dir / "train-images-idx3-ubyte")) {
    ADD_FAILURE() << "Fashion-MNIST is not in " << dir.string()
                  << ": install the Debian/Ubuntu package dataset-fashion-mnist (./dtlab setup does), "
                     "or point DTLAB_DATA at a folder with its four IDX files";
    return std::nullopt;
  }
  return dtlab::load_fashion_mnist(dir);
}

// Trains an MLP with the student's backward passes on Fashion-MNIST for one epoch, on world rank 0
// alone (training is one process's work; the other ranks of the job have nothing to do), and
// returns the test accuracy there (-1 on the other ranks).
inline double accuracy_after_one_epoch(dtlab::TrainConfig cfg) {
  const Comm world = Comm::world();
  const Comm alone = world.split(world.rank() == 0 ? 0 : -1, 0);
  if (!alone.valid()) return -1;
  const auto data = fashion_mnist();
  if (!data) return 0;
  cfg.epochs = 1;
  cfg.progress = false;
  dtlab::Mlp model(cfg.model);
  model.set_layer_ops(lab00::layer_ops());
  dtlab::SingleProcess single;
  const double accuracy = dtlab::train(cfg, *data, alone, single, model).test_accuracy;
  std::printf("[ accuracy ] %.2f%% after one epoch of MLP %s, batch %lld, lr %g, seed %llu\n", 100 * accuracy,
              cfg.model.describe().c_str(), (long long)cfg.global_batch, cfg.lr, (unsigned long long)cfg.seed);
  return accuracy;
}

// ---- Part 2 ----

// f() must throw a dtlab::Error of the student's own: "not implemented yet" does not count.
template <class F>
testing::AssertionResult throws_error(F&& f) {
  try {
    f();
  } catch (const dtlab::NotImplemented& e) {
    return testing::AssertionFailure() << e.what();
  } catch (const dtlab::Error&) {
    return testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw something other than dtlab::Error: " << e.what();
  }
  return testing::AssertionFailure() << "returned normally; expected a dtlab::Error";
}

// One message as the op log saw it, from this rank's point of view.
struct Message {
  int peer;  // world rank
  std::uint64_t bytes;
  bool operator==(const Message&) const = default;
};
inline std::ostream& operator<<(std::ostream& os, const Message& m) {
  return os << "{peer " << m.peer << ", " << m.bytes << " B}";
}

// What this rank sent and received, in order, whatever operations it used.
struct Traffic {
  std::vector<Message> sent, received;
};
inline Traffic traffic_in_log() {
  Traffic t;
  for (const dtlab::Op& op : dtlab::OpLog::instance().data().ops) {
    switch (op.kind) {
      case dtlab::OpKind::send:
      case dtlab::OpKind::isend: t.sent.push_back({op.peer, op.bytes}); break;
      case dtlab::OpKind::recv:
      case dtlab::OpKind::irecv: t.received.push_back({op.peer, op.bytes}); break;
      case dtlab::OpKind::sendrecv:
        t.sent.push_back({op.peer, op.bytes});
        t.received.push_back({op.recv_peer, op.recv_bytes});
        break;
      default: break;
    }
  }
  return t;
}

// Runs pingpong on comm and checks the op log of every rank: ranks 0 and 1 exchange exactly
// (repetitions + 1) messages of each size, in order, with each other only; the others, nothing.
// Also checks what it returns: one positive, finite time per size on rank 0, nothing elsewhere.
inline void check_pingpong_messages(const Comm& comm, const std::vector<std::uint64_t>& sizes, int repetitions) {
  SCOPED_TRACE(testing::Message() << "comm of " << comm.size() << " ranks, this is rank " << comm.rank()
                                  << " (world rank " << comm.world_rank(comm.rank()) << "), repetitions="
                                  << repetitions);
  auto& log = dtlab::OpLog::instance();
  log.set_enabled(true);
  comm.barrier();
  log.clear();
  std::vector<Sample> samples;
  try {
    samples = pingpong(comm, sizes, repetitions);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
  const Traffic t = traffic_in_log();
  log.clear();
  const int me = comm.rank();
  std::vector<Message> want;
  if (me <= 1)
    for (const std::uint64_t b : sizes)
      for (int k = 0; k <= repetitions; ++k) want.push_back({comm.world_rank(1 - me), b});
  EXPECT_EQ(t.sent, want) << "messages sent (peer as a world rank, bytes), in order";
  EXPECT_EQ(t.received, want) << "messages received (peer as a world rank, bytes), in order";
  if (me == 0) {
    ASSERT_EQ(samples.size(), sizes.size()) << "rank 0 returns one sample per size";
    for (std::size_t k = 0; k < sizes.size(); ++k) {
      EXPECT_EQ(samples[k].bytes, sizes[k]) << "sample " << k;
      EXPECT_TRUE(samples[k].seconds > 0 && std::isfinite(samples[k].seconds))
          << "sample " << k << " (" << sizes[k] << " B): " << samples[k].seconds << " s";
    }
  } else {
    EXPECT_TRUE(samples.empty()) << "only rank 0 returns samples";
  }
}

// The median of a round trip of `bytes` between ranks 0 and 1 of comm, timed here (not by the code
// under test), after one warm-up; 0 on other ranks.
inline double median_round_trip(const Comm& comm, std::uint64_t bytes, int repetitions) {
  const int me = comm.rank();
  if (me > 1) return 0;
  std::vector<std::uint8_t> buf(bytes);
  const std::span<std::uint8_t> m(buf);
  std::vector<double> t;
  for (int k = 0; k <= repetitions; ++k) {
    const auto t0 = std::chrono::steady_clock::now();
    if (me == 0) {
      comm.send(std::span<const std::uint8_t>(m), 1, 7);
      comm.recv(m, 1, 7);
    } else {
      comm.recv(m, 0, 7);
      comm.send(std::span<const std::uint8_t>(m), 0, 7);
    }
    if (k > 0) t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

// The student's one-way time over a round trip timed by the test, alternately, `rounds` times:
// the median ratio on rank 0 (about 0.5 when one-way is half a round trip), 0 elsewhere.
inline double one_way_over_round_trip(const Comm& comm, std::uint64_t bytes, int repetitions, int rounds) {
  const std::vector<std::uint64_t> size{bytes};
  std::vector<double> ratios;
  for (int r = 0; r < rounds; ++r) {
    const double rt = median_round_trip(comm, bytes, repetitions);
    const auto s = pingpong(comm, size, repetitions);
    if (comm.rank() == 0 && s.size() == 1) ratios.push_back(s[0].seconds / rt);
  }
  if (ratios.empty()) return 0;
  std::sort(ratios.begin(), ratios.end());
  return ratios[ratios.size() / 2];
}

// Exact samples of seconds = alpha + beta * bytes.
inline std::vector<Sample> exact_samples(double alpha, double beta, const std::vector<std::uint64_t>& sizes) {
  std::vector<Sample> s;
  for (const auto b : sizes) s.push_back({b, alpha + beta * double(b)});
  return s;
}

inline std::vector<std::uint64_t> powers_of_two(std::uint64_t lo, std::uint64_t hi) {
  std::vector<std::uint64_t> s;
  for (std::uint64_t b = lo; b <= hi; b *= 2) s.push_back(b);
  return s;
}

// The minimiser of sum ((alpha + beta x - t) / t)^2 by the normal equations, solved with
// Cramer's rule in long double: a different route to the same numbers as the handout's formula.
inline LineFit relative_least_squares(std::span<const Sample> samples) {
  long double a = 0, b = 0, c = 0, p = 0, q = 0;
  for (const Sample& s : samples) {
    const long double w = 1.0L / ((long double)s.seconds * s.seconds), x = s.bytes, t = s.seconds;
    a += w, b += w * x, c += w * x * x, p += w * t, q += w * x * t;
  }
  const long double det = a * c - b * b;
  return {double((p * c - b * q) / det), double((a * q - b * p) / det)};
}

// Samples with seeded multiplicative noise of about +-spread, as a real measurement has.
inline std::vector<Sample> noisy_samples(double alpha, double beta, const std::vector<std::uint64_t>& sizes,
                                         double spread, std::uint64_t seed) {
  dtlab::Rng rng(seed);
  auto s = exact_samples(alpha, beta, sizes);
  for (auto& x : s) x.seconds *= 1 + spread * (2 * rng.uniform() - 1);
  return s;
}

inline testing::AssertionResult fit_is(const LineFit& got, const LineFit& want, double rel) {
  const bool ok = std::abs(got.alpha - want.alpha) <= rel * std::abs(want.alpha) &&
                  std::abs(got.beta - want.beta) <= rel * std::abs(want.beta);
  if (ok) return testing::AssertionSuccess();
  return testing::AssertionFailure() << "got alpha = " << got.alpha << " s, beta = " << got.beta
                                     << " s/B; expected alpha = " << want.alpha << " s, beta = " << want.beta
                                     << " s/B (relative tolerance " << rel << ")";
}

}  // namespace lab00::test
