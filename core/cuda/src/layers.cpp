#include "dtlab/cuda/layers.hpp"

#include "dtlab/cuda/check.hpp"

namespace dtlab::cuda {

Blas::Blas(cudaStream_t stream, bool tf32) {
  DTLAB_CUBLAS_CHECK(cublasCreate(&h_));
  DTLAB_CUBLAS_CHECK(cublasSetStream(h_, stream));
  DTLAB_CUBLAS_CHECK(cublasSetMathMode(h_, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
}

Blas::~Blas() {
  if (h_) cublasDestroy(h_);
}

// cuBLAS is column-major; a row-major r x c matrix is the column-major c x r matrix with the same
// bytes. So each row-major product below is written as its transpose:
//   forward  y = x W^T     ->  y^T  (out x batch) = W x^T  = W_cm^T x^T
//   dW = dy^T x            ->  dW^T (in x out)    = x^T dy
//   dx = dy W              ->  dx^T (in x batch)  = W^T dy^T
// where W_cm, the row-major out x in weight seen column-major, is in x out with leading dim in.
void linear_gemm(const Blas& blas, const float* x, const float* w, int batch, int in, int out, float* y) {
  const float one = 1.0f, zero = 0.0f;
  DTLAB_CUBLAS_CHECK(cublasSgemm(blas.get(), CUBLAS_OP_T, CUBLAS_OP_N, out, batch, in, &one, w, in,
                                 x, in, &zero, y, out));
}

void linear_backward(const Blas& blas, const float* x, const float* w, const float* dy, int batch,
                     int in, int out, bool accumulate, float* dw, float* db, const float* ones,
                     float* dx) {
  const float one = 1.0f, zero = 0.0f;
  const float beta = accumulate ? 1.0f : 0.0f;
  DTLAB_CUBLAS_CHECK(cublasSgemm(blas.get(), CUBLAS_OP_N, CUBLAS_OP_T, in, out, batch, &one, x, in,
                                 dy, out, &beta, dw, in));
  // db = column sums of dy = dy^T (out x batch, column-major) times a vector of ones.
  if (db)
    DTLAB_CUBLAS_CHECK(cublasSgemv(blas.get(), CUBLAS_OP_N, out, batch, &one, dy, out, ones, 1, &beta, db, 1));
  if (dx)
    DTLAB_CUBLAS_CHECK(cublasSgemm(blas.get(), CUBLAS_OP_N, CUBLAS_OP_N, in, batch, out, &one, w, in,
                                   dy, out, &zero, dx, in));
}

}  // namespace dtlab::cuda
