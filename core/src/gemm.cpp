#include "dtlab/gemm.hpp"

#include <cassert>

// DTLAB_GEMM_BLAS is set by core/CMakeLists.txt when this build links OpenBLAS or BLIS.
#ifdef DTLAB_GEMM_BLAS
extern "C" void sgemm_(const char* trans_a, const char* trans_b, const int* m, const int* n,
                       const int* k, const float* alpha, const float* a, const int* lda,
                       const float* b, const int* ldb, const float* beta, float* c, const int* ldc);
#endif

namespace dtlab {

void gemm(ConstMatMap a, Trans op_a, ConstMatMap b, Trans op_b, MatMap c) {
  assert((op_a == Trans::no ? a.rows() : a.cols()) == c.rows());
  assert((op_b == Trans::no ? b.cols() : b.rows()) == c.cols());
  assert((op_a == Trans::no ? a.cols() : a.rows()) == (op_b == Trans::no ? b.rows() : b.cols()));
#ifdef DTLAB_GEMM_BLAS
  gemm_with(&sgemm_, a, op_a, b, op_b, c);
#else
  gemm_with(nullptr, a, op_a, b, op_b, c);
#endif
}

std::string gemm_library() { return DTLAB_GEMM_LIBRARY; }

}  // namespace dtlab
