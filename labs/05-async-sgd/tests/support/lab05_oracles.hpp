// Gossip's oracles, shared by Lab 05's tests and its benchmark (no GoogleTest here): the mixing
// matrix from its definition, its second eigenvalue, distinct values per rank and element, and
// the consensus distance.
#pragma once

#include <algorithm>
#include <cmath>
#include <numeric>
#include <span>
#include <utility>
#include <vector>

#include "dtlab/baseline.hpp"
#include "dtlab/rng.hpp"
#include "lab05/async_sgd.hpp"

namespace lab05::test {

// ---- Part 4: gossip ----

// The mixing matrix from its definition, written here independently of the lab: W[r][j] = 1/(d+1)
// for r itself and each distinct neighbour j on the ring or torus, 0 elsewhere.
inline std::vector<std::vector<double>> mixing_matrix(Topology t, int p) {
  std::vector<std::vector<double>> W(std::size_t(p), std::vector<double>(std::size_t(p), 0.0));
  const TorusShape s = torus_shape(p);
  for (int r = 0; r < p; ++r) {
    std::vector<int> adj;
    if (t == Topology::ring) {
      adj = {(r + 1) % p, (r + p - 1) % p};
    } else {
      const int i = r / s.cols, j = r % s.cols;
      for (const auto& [di, dj] : {std::pair{1, 0}, {-1, 0}, {0, 1}, {0, -1}})
        adj.push_back(((i + di + s.rows) % s.rows) * s.cols + (j + dj + s.cols) % s.cols);
    }
    adj.push_back(r);
    std::sort(adj.begin(), adj.end());
    adj.erase(std::unique(adj.begin(), adj.end()), adj.end());
    for (const int j : adj) W[std::size_t(r)][std::size_t(j)] = 1.0 / double(adj.size());
  }
  return W;
}

// The second largest eigenvalue magnitude of a symmetric doubly-stochastic W: power iteration on
// W with the all-ones direction removed (its eigenvalue 1), in double.
inline double second_eigenvalue(const std::vector<std::vector<double>>& W) {
  const std::size_t p = W.size();
  if (p < 2) return 0;
  std::vector<double> v(p), next(p);
  dtlab::Rng rng(7);
  for (double& x : v) x = rng.normal();
  double lambda = 0;
  for (int it = 0; it < 20000; ++it) {
    const double mean = std::accumulate(v.begin(), v.end(), 0.0) / double(p);
    for (double& x : v) x -= mean;
    // Iterate with W^2, whose eigenvalues are non-negative, so that +lambda and -lambda do not
    // alternate; its top eigenvalue off the ones direction is lambda_2^2.
    for (int twice = 0; twice < 2; ++twice) {
      for (std::size_t r = 0; r < p; ++r) {
        next[r] = 0;
        for (std::size_t j = 0; j < p; ++j) next[r] += W[r][j] * v[j];
      }
      std::swap(v, next);
    }
    double norm = 0;
    for (const double x : v) norm += x * x;
    norm = std::sqrt(norm);
    if (norm == 0) return 0;
    for (double& x : v) x /= norm;
    lambda = std::sqrt(norm);  // |lambda_2|, since v had norm 1
  }
  return lambda;
}

// One mixing step computes W x in float: each output is a sum of d + 1 floats, divided by d + 1.
// Its error is at most (d + 1) u max|x| (d additions, each off by u of a partial sum of at most
// (d + 1) max|x|, then divided; the division adds u), u = 2^-24; the bound is twice that.
inline double mix_bound(int d, double max_abs) { return 2.0 * (d + 1) * 0x1p-24 * max_abs; }

// Distinct values per rank and element: rank r's x[k] = sin(1 + r * 1.7 + k * 0.31) * 4.
inline std::vector<float> gossip_values(int r, std::size_t n) {
  std::vector<float> x(n);
  for (std::size_t k = 0; k < n; ++k) x[k] = float(std::sin(1.0 + r * 1.7 + double(k) * 0.31) * 4.0);
  return x;
}

// Every rank's x gathered on every rank (p x n), in double.
inline std::vector<std::vector<double>> gather_all(const Comm& comm, std::span<const float> x) {
  std::vector<float> all(std::size_t(comm.size()) * x.size());
  dtlab::baseline::allgather(comm, x, std::span<float>(all));
  std::vector<std::vector<double>> out(std::size_t(comm.size()));
  for (std::size_t r = 0; r < out.size(); ++r) out[r].assign(all.begin() + std::ptrdiff_t(r * x.size()), all.begin() + std::ptrdiff_t((r + 1) * x.size()));
  return out;
}

// max over ranks of the Euclidean distance of x_r to the mean over the ranks.
inline double consensus_distance(const std::vector<std::vector<double>>& x) {
  const std::size_t p = x.size(), n = p ? x[0].size() : 0;
  std::vector<double> mean(n, 0.0);
  for (const auto& v : x)
    for (std::size_t k = 0; k < n; ++k) mean[k] += v[k] / double(p);
  double worst = 0;
  for (const auto& v : x) {
    double d = 0;
    for (std::size_t k = 0; k < n; ++k) d += (v[k] - mean[k]) * (v[k] - mean[k]);
    worst = std::max(worst, std::sqrt(d));
  }
  return worst;
}

}  // namespace lab05::test
