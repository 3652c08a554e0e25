// The matrix product under every dense layer of dtlab: C = op(A) op(B) on row-major float matrices,
// on this thread, with the single-core SGEMM this build found fastest on its machine.
//
// Which library that is depends on the machine: on a Zen 5 with AVX-512, Eigen's own kernels
// (compiled with -march=native) beat Debian's OpenBLAS; on a Zen 2 with AVX2 only, OpenBLAS beats
// Eigen by half again. So configuring dtlab times every candidate on the MLP's own products
// (cmake/gemm_probe.cpp, `dtlab bench train-step` prints the same rates) and links the fastest;
// DTLAB_GEMM=eigen|openblas|blis overrides. The choice is fixed per build folder, and every
// candidate is serial (one thread per rank), so a build's results are bitwise repeatable on its
// machine; what changes between machines, and why the tests still hold: docs/performance.md.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <string>

namespace dtlab {

using MatrixRM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatMap = Eigen::Map<MatrixRM>;
using ConstMatMap = Eigen::Map<const MatrixRM>;
using VecMap = Eigen::Map<Eigen::VectorXf>;
using ConstVecMap = Eigen::Map<const Eigen::VectorXf>;

enum class Trans { no, yes };

// c = op(a) op(b); c must not overlap a or b.
void gemm(ConstMatMap a, Trans op_a, ConstMatMap b, Trans op_b, MatMap c);

// The library gemm() runs on: "eigen", "openblas" or "blis".
std::string gemm_library();

// The reference BLAS's sgemm_ (column-major, Fortran calling convention), as OpenBLAS and BLIS both
// export it. Called through dlsym on a library's own handle it is that library's kernel, never
// another's with the same name (unlike cblas_sgemm, which BLIS implements by calling sgemm_).
using Sgemm = void (*)(const char* trans_a, const char* trans_b, const int* m, const int* n,
                       const int* k, const float* alpha, const float* a, const int* lda,
                       const float* b, const int* ldb, const float* beta, float* c, const int* ldc);

// gemm() on a given library: Eigen's kernels when sgemm is null. Inline because the configure-time
// probe times exactly this code before dtlab's own library exists.
inline void gemm_with(Sgemm sgemm, ConstMatMap a, Trans op_a, ConstMatMap b, Trans op_b, MatMap c) {
  const bool ta = op_a == Trans::yes, tb = op_b == Trans::yes;
  if (sgemm) {
    // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T, and a row-major matrix's
    // buffer read column-major is its transpose: so B comes first and each flag stays as it is.
    const int m = int(c.rows()), n = int(c.cols()), k = int(ta ? a.rows() : a.cols());
    if (m == 0 || n == 0) return;
    if (k == 0) {
      c.setZero();
      return;
    }
    const int lda = std::max(1, int(a.cols())), ldb = std::max(1, int(b.cols())), ldc = n;
    const float one = 1.0f, zero = 0.0f;
    sgemm(tb ? "T" : "N", ta ? "T" : "N", &n, &m, &k, &one, b.data(), &ldb, a.data(), &lda, &zero,
          c.data(), &ldc);
  } else if (!ta && !tb) {
    c.noalias() = a * b;
  } else if (!ta) {
    c.noalias() = a * b.transpose();
  } else if (!tb) {
    c.noalias() = a.transpose() * b;
  } else {
    c.noalias() = a.transpose() * b.transpose();
  }
}

}  // namespace dtlab
