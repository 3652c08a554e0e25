// dtlab::gemm and every SGEMM library the build could link, against a serial loop.
//
// The inputs are small integers, so every product and sum is exact in float whatever the order of
// summation: any difference at all is a wrong index, a wrong transpose flag or a wrong leading
// dimension, not rounding. The shapes are odd and unequal so that m, n and k cannot be confused,
// and large enough to cross the libraries' blocking.
#include <gtest/gtest.h>

#include <string>

#include "dtlab/fastest.hpp"
#include "dtlab/gemm.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/sgemm_probe.hpp"

namespace dtlab {
namespace {

struct Case {
  int m, n, k;
  Trans ta, tb;
};

MatrixRM integers(Eigen::Index rows, Eigen::Index cols, int seed) {
  MatrixRM x(rows, cols);
  for (Eigen::Index i = 0; i < x.size(); ++i) x.data()[i] = float((i * 7 + seed * 13) % 17 - 8);
  return x;
}

// c = op(a) op(b) by the definition, in double.
MatrixRM oracle(const MatrixRM& a, Trans ta, const MatrixRM& b, Trans tb, int m, int n, int k) {
  MatrixRM c(m, n);
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double s = 0;
      for (int p = 0; p < k; ++p)
        s += double(ta == Trans::no ? a(i, p) : a(p, i)) * double(tb == Trans::no ? b(p, j) : b(j, p));
      c(i, j) = float(s);
    }
  return c;
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (Trans ta : {Trans::no, Trans::yes})
    for (Trans tb : {Trans::no, Trans::yes}) {
      all.push_back({7, 5, 3, ta, tb});
      all.push_back({67, 45, 129, ta, tb});
      all.push_back({1, 33, 8, ta, tb});
    }
  return all;
}

template <class Gemm>
void expect_exact(Gemm&& gemm_on, const std::string& library) {
  for (const Case& t : cases()) {
    const MatrixRM a = t.ta == Trans::no ? integers(t.m, t.k, 1) : integers(t.k, t.m, 1);
    const MatrixRM b = t.tb == Trans::no ? integers(t.k, t.n, 2) : integers(t.n, t.k, 2);
    MatrixRM c = MatrixRM::Constant(t.m, t.n, 1e30f);  // every element must be written
    gemm_on(ConstMatMap(a.data(), a.rows(), a.cols()), t.ta, ConstMatMap(b.data(), b.rows(), b.cols()),
            t.tb, MatMap(c.data(), c.rows(), c.cols()));
    EXPECT_EQ(c, oracle(a, t.ta, b, t.tb, t.m, t.n, t.k))
        << library << ": " << t.m << "x" << t.n << "x" << t.k << " op(a)=" << (t.ta == Trans::yes ? "a^T" : "a")
        << " op(b)=" << (t.tb == Trans::yes ? "b^T" : "b");
  }
}

TEST(Gemm, LinkedLibraryIsExact) {
  expect_exact([](auto... args) { gemm(args...); }, gemm_library());
}

TEST(Gemm, EveryCandidateLibraryIsExact) {
  std::string skipped;
  const auto candidates = sgemm_probe::load(DTLAB_SGEMM_CANDIDATES, &skipped);
  EXPECT_EQ(skipped, "") << "a library configure found does not load";
  bool linked_found = false;
  for (const auto& c : candidates) {
    linked_found |= c.name == gemm_library();
    expect_exact([&](auto... args) { gemm_with(c.sgemm, args...); }, c.name);
  }
  EXPECT_TRUE(linked_found) << "the linked library '" << gemm_library() << "' is not among the candidates";
}

TEST(Gemm, EmptyInnerDimensionGivesZeros) {
  MatrixRM a(3, 0), b(0, 4), c = MatrixRM::Constant(3, 4, 5.0f);
  gemm(ConstMatMap(a.data(), 3, 0), Trans::no, ConstMatMap(b.data(), 0, 4), Trans::no, MatMap(c.data(), 3, 4));
  EXPECT_EQ(c, MatrixRM::Zero(3, 4));
}

TEST(Fastest, TheFirstWithinTheTieOfTheFastestWins) {
  const double close[] = {1.02, 1.0, 0.995};  // all within 3%: the first
  EXPECT_EQ(first_within(close), 0u);
  const double apart[] = {1.04, 1.0, 1.02};  // the first is 4% slower: the next within 3%
  EXPECT_EQ(first_within(apart), 1u);
  const double last[] = {2.0, 1.5, 1.0};
  EXPECT_EQ(first_within(last), 2u);
  EXPECT_EQ(first_within(apart, 1.05), 0u);
}

TEST(SgemmProbe, MlpProductsAreTheLayersCalls) {
  // 784-512-10 at batch 32: forward and dw for both layers, dx only for the second.
  const auto p = sgemm_probe::mlp_products(32, {784, 512, 10});
  ASSERT_EQ(p.size(), 5u);
  double flops = 0;
  for (const auto& x : p) flops += x.flops();
  // Forward 2*B*(784*512 + 512*10), dw the same, dx of the second layer 2*B*512*10.
  EXPECT_DOUBLE_EQ(flops, 2.0 * 32 * (2 * (784 * 512 + 512 * 10) + 512 * 10));
  // ... which is what the MLP counts for its step (train-step's GFLOP/s).
  EXPECT_DOUBLE_EQ(flops, Mlp(MlpConfig{784, {512}, 10}).train_flops() * 32);
}

}  // namespace
}  // namespace dtlab
