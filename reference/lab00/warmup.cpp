// Lab 00 reference solution: the MLP's backward passes, and alpha and beta from a ping-pong.
//
// Written to be read next to the handout (labs/00-warmup/README.md), which derives each formula.
// The matrix products are Eigen expressions rather than loops: they compute the same sums, and
// run about as fast as the machine allows, which training (and its test's time limit) needs.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "dtlab/error.hpp"
#include "lab00/warmup.hpp"

namespace lab00 {

// ---- Part 1: backward passes ----

void linear_backward(ConstMatMap x, ConstMatMap w, ConstMatMap dy, MatMap dw, VecMap db, MatMap* dx) {
  // y[n][o] = sum_i x[n][i] w[o][i] + b[o]. Every sample n uses the same w and b, so their
  // gradients are sums over the batch:
  //   dL/dw[o][i] = sum_n dy[n][o] x[n][i]   that is, dw = dy^T x   (out x in, the shape of w)
  dw.noalias() = dy.transpose() * x;
  //   dL/db[o] = sum_n dy[n][o]              the column sums of dy
  db = dy.colwise().sum().transpose();
  // Each x[n][i] feeds every output of its own sample:
  //   dL/dx[n][i] = sum_o dy[n][o] w[o][i]   that is, dx = dy w     (batch x in, the shape of x)
  if (dx) dx->noalias() = dy * w;
}

void relu_backward(ConstMatMap y, MatMap dy) {
  // dy/dz of max(z, 0) is 1 where z > 0 and 0 elsewhere, and z > 0 exactly where the output y > 0:
  // the output alone decides, so the forward pass need not keep z.
  dy = (y.array() > 0.0f).select(dy, 0.0f);
}

float softmax_cross_entropy(ConstMatMap logits, std::span<const std::int32_t> labels, MatMap dlogits) {
  const Eigen::Index batch = logits.rows();
  // The loss is the MEAN over the batch, so every row's gradient carries a factor 1/batch.
  const float inv_batch = 1.0f / float(batch);
  double total = 0;  // in double: a float sum of hundreds of losses would lose digits
  for (Eigen::Index i = 0; i < batch; ++i) {
    const auto z = logits.row(i).array();
    // exp(z) overflows float beyond z = 88. Softmax does not change when the same m is subtracted
    // from every logit; with m the row's maximum every exponent is <= 0 and the largest term is
    // exactly exp(0) = 1, so the sum neither overflows nor reaches 0 (whose log is -inf).
    const float m = z.maxCoeff();
    auto e = dlogits.row(i).array();
    e = (z - m).exp();
    const float sum = e.sum();
    // -log softmax(z)[label] = log(sum_j exp(z_j)) - z[label] = m + log(sum) - z[label]
    total += double(m) + std::log(double(sum)) - double(z(labels[i]));
    // Its derivative by z_j is softmax(z)_j - [j == label]; then the 1/batch of the mean.
    e *= inv_batch / sum;
    dlogits(i, labels[i]) -= inv_batch;
  }
  return float(total / double(batch));
}

// ---- Part 2: ping-pong and the alpha-beta fit ----

namespace {

constexpr int kPingPongTag = 100;  // any tag works; a fixed one keeps other traffic out of the way

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

std::vector<Sample> pingpong(const Comm& comm, std::span<const std::uint64_t> sizes, int repetitions) {
  if (comm.size() < 2)
    throw dtlab::Error("pingpong needs at least 2 ranks; this communicator has " + std::to_string(comm.size()));
  if (repetitions < 1)
    throw dtlab::Error("pingpong needs at least 1 repetition; got " + std::to_string(repetitions));
  const int me = comm.rank();
  if (me > 1) return {};  // only ranks 0 and 1 play
  const int peer = 1 - me;

  std::vector<std::uint8_t> buffer(sizes.empty() ? 0 : *std::max_element(sizes.begin(), sizes.end()));
  std::vector<double> round_trips(static_cast<std::size_t>(repetitions));
  std::vector<Sample> samples;
  for (const std::uint64_t bytes : sizes) {
    const std::span<std::uint8_t> message(buffer.data(), bytes);
    auto round_trip = [&] {
      if (me == 0) {
        comm.send(std::span<const std::uint8_t>(message), peer, kPingPongTag);
        comm.recv(message, peer, kPingPongTag);
      } else {
        comm.recv(message, peer, kPingPongTag);
        comm.send(std::span<const std::uint8_t>(message), peer, kPingPongTag);
      }
    };
    // Untimed: the first message of a size pays for things later ones do not (touching the
    // buffer's pages, setting up MPI's path for that size).
    round_trip();
    for (auto& t : round_trips) {
      const auto t0 = std::chrono::steady_clock::now();
      round_trip();
      t = seconds_since(t0);
    }
    if (me != 0) continue;
    // The median, not the mean: on a shared machine a few round trips are slowed down by other
    // programs, and the mean would count them; the median ignores up to half of them. A round
    // trip is two messages, so one message takes half of it.
    std::nth_element(round_trips.begin(), round_trips.begin() + repetitions / 2, round_trips.end());
    samples.push_back({bytes, round_trips[std::size_t(repetitions / 2)] / 2});
  }
  return samples;
}

LineFit fit_alpha_beta(std::span<const Sample> samples) {
  // Minimise sum_k w_k (alpha + beta x_k - t_k)^2 with w_k = 1/t_k^2, i.e. the relative error:
  // timings span microseconds to milliseconds, and with plain least squares the largest sizes'
  // noise would decide alpha. Setting both derivatives to 0 gives the textbook closed form
  // around the weighted means x_bar and t_bar:
  //   beta = sum w (x - x_bar)(t - t_bar) / sum w (x - x_bar)^2,   alpha = t_bar - beta x_bar.
  // Centring first keeps the sums small, so nothing cancels catastrophically.
  double sw = 0, swx = 0, swt = 0;
  for (const Sample& s : samples) {
    if (!(s.seconds > 0))
      throw dtlab::Error("fit_alpha_beta: the sample of " + std::to_string(s.bytes) + " bytes has " +
                         std::to_string(s.seconds) + " seconds; every time must be > 0");
    const double w = 1 / (s.seconds * s.seconds);
    sw += w;
    swx += w * double(s.bytes);
    swt += w * s.seconds;
  }
  const auto [lo, hi] = std::minmax_element(samples.begin(), samples.end(),
                                            [](const Sample& a, const Sample& b) { return a.bytes < b.bytes; });
  if (samples.empty() || lo->bytes == hi->bytes)
    throw dtlab::Error("fit_alpha_beta needs samples of at least 2 different sizes to fit a line; got " +
                       std::to_string(samples.size()) + " samples" +
                       (samples.empty() ? std::string() : " all of " + std::to_string(lo->bytes) + " bytes"));
  const double x_bar = swx / sw, t_bar = swt / sw;
  double sxt = 0, sxx = 0;
  for (const Sample& s : samples) {
    const double w = 1 / (s.seconds * s.seconds), dx = double(s.bytes) - x_bar;
    sxt += w * dx * (s.seconds - t_bar);
    sxx += w * dx * dx;
  }
  const double beta = sxt / sxx;
  return {t_bar - beta * x_bar, beta};
}

}  // namespace lab00
