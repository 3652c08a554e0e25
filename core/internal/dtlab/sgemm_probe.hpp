// Every single-core SGEMM this machine has, timed on the products of one MLP training step.
//
// Header-only, for two programs: the probe that configuring dtlab runs to choose the library its
// dense layers link (cmake/gemm_probe.cpp), and `dtlab bench train-step`, which prints the same
// rates next to the MLP step's. Libraries are opened with dlopen, each on its own handle, so one
// process can time them all although each exports the same sgemm_.
#pragma once

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dtlab/gemm.hpp"

namespace dtlab::sgemm_probe {

struct Candidate {
  std::string name;      // "eigen", "openblas", "blis"
  std::string path;      // the shared library; empty for Eigen's kernels, compiled into the caller
  Sgemm sgemm = nullptr;  // null for Eigen
};

// Eigen first, then every "name=path" of `libraries` (comma-separated) that loads and exports
// sgemm_. Those that do not are described in *skipped.
inline std::vector<Candidate> load(std::string_view libraries, std::string* skipped) {
  std::vector<Candidate> out{{"eigen", "", nullptr}};
  while (!libraries.empty()) {
    const auto end = std::min(libraries.find(','), libraries.size());
    const std::string_view item = libraries.substr(0, end);
    libraries.remove_prefix(std::min(end + 1, libraries.size()));
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    Candidate c{std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)), nullptr};
    // RTLD_LOCAL keeps its symbols out of the global scope, where they would shadow another's.
    void* handle = dlopen(c.path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle) c.sgemm = reinterpret_cast<Sgemm>(dlsym(handle, "sgemm_"));
    if (c.sgemm) {
      out.push_back(c);
    } else if (skipped) {
      const char* why = dlerror();
      *skipped += c.name + " (" + c.path + ": " + (why ? why : "no sgemm_") + ") ";
    }
  }
  return out;
}

struct Product {
  int m, n, k;
  Trans op_a, op_b;
  double flops() const { return 2.0 * m * n * double(k); }
};

// The products of one forward + backward pass of an MLP with these layer widths (inputs first),
// exactly as core/src/layers.cpp calls gemm(): y = x w^T, dw = dy^T x, and dx = dy w below the
// first layer.
inline std::vector<Product> mlp_products(int batch, const std::vector<int>& widths) {
  std::vector<Product> p;
  for (std::size_t l = 0; l + 1 < widths.size(); ++l) {
    const int in = widths[l], out = widths[l + 1];
    p.push_back({batch, out, in, Trans::no, Trans::yes});
    p.push_back({out, in, batch, Trans::yes, Trans::no});
    if (l > 0) p.push_back({batch, in, out, Trans::no, Trans::no});
  }
  return p;
}

// The model every rate is quoted for: the course's MLP (784-512-256-10) at batch 256.
inline std::vector<Product> course_mlp_products() { return mlp_products(256, {784, 512, 256, 10}); }

inline std::vector<Product> square_product(int n) { return {{n, n, n, Trans::no, Trans::no}}; }

// GFLOP/s of `sgemm` over the products, the best of 5 trials of about `trial_seconds` each, on
// inputs of distinct non-zero values (a kernel may skip work on zeros).
inline double gflops(Sgemm sgemm, const std::vector<Product>& products, double trial_seconds = 0.1) {
  struct Operands {
    MatrixRM a, b, c;
  };
  std::vector<Operands> ops;
  double flops = 0;
  std::uint32_t state = 12345;
  auto fill = [&](MatrixRM& m) {
    for (Eigen::Index i = 0; i < m.size(); ++i) {
      state = state * 1664525u + 1013904223u;
      m.data()[i] = float(state >> 8) * 0x1p-24f - 0.5f;
    }
  };
  for (const Product& p : products) {
    Operands o;
    o.a.resize(p.op_a == Trans::no ? p.m : p.k, p.op_a == Trans::no ? p.k : p.m);
    o.b.resize(p.op_b == Trans::no ? p.k : p.n, p.op_b == Trans::no ? p.n : p.k);
    o.c.resize(p.m, p.n);
    fill(o.a);
    fill(o.b);
    ops.push_back(std::move(o));
    flops += p.flops();
  }
  auto run = [&] {
    for (std::size_t i = 0; i < ops.size(); ++i)
      gemm_with(sgemm, ConstMatMap(ops[i].a.data(), ops[i].a.rows(), ops[i].a.cols()),
                products[i].op_a, ConstMatMap(ops[i].b.data(), ops[i].b.rows(), ops[i].b.cols()),
                products[i].op_b, MatMap(ops[i].c.data(), ops[i].c.rows(), ops[i].c.cols()));
  };
  using clock = std::chrono::steady_clock;
  auto seconds = [](clock::time_point t0) { return std::chrono::duration<double>(clock::now() - t0).count(); };
  auto t0 = clock::now();
  run();  // warm: first-touch pages, the library's own one-time set-up
  const double once = seconds(t0);
  const auto reps = std::max<std::int64_t>(1, std::int64_t(trial_seconds / std::max(once, 1e-9)));
  double best = INFINITY;
  for (int trial = 0; trial < 5; ++trial) {
    t0 = clock::now();
    for (std::int64_t r = 0; r < reps; ++r) run();
    best = std::min(best, seconds(t0) / double(reps));
  }
  return flops / best * 1e-9;
}

}  // namespace dtlab::sgemm_probe
