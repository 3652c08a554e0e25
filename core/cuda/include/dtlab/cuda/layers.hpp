// A Linear layer on the GPU: dtlab/layers.hpp's linear_forward and linear_backward with cuBLAS,
// on row-major device matrices (one sample per row, W out x in, PyTorch's layout), queued on the
// handle's stream. The whole MLP (mlp.hpp) and Lab 03's tensor-parallel blocks, whose shards are
// Linear layers of other widths, both run their layers through these.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

namespace dtlab::cuda {

// The cuBLAS handle, bound to one stream.
class Blas {
 public:
  // tf32: let cuBLAS round GEMM inputs to TF32 on tensor cores (PyTorch's allow_tf32); faster on
  // Ampere and later, about 1e-3 relative error instead of FP32's 1e-6.
  explicit Blas(cudaStream_t stream, bool tf32 = false);
  ~Blas();
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;
  cublasHandle_t get() const { return h_; }

 private:
  cublasHandle_t h_ = nullptr;
};

// y = x W^T (x: batch x in, W: out x in, y: batch x out). The bias and ReLU follow in one kernel
// (kernels.hpp's bias_relu).
void linear_gemm(const Blas& blas, const float* x, const float* w, int batch, int in, int out, float* y);

// Backward of y = x W^T + b given dy (batch x out): dW = dy^T x and, unless db is null, db = the
// column sums of dy (ones: batch device floats equal to 1); with accumulate both are added to what
// dw and db hold (C = A B + 1 C costs nothing more). Unless dx is null, dx = dy W (batch x in).
void linear_backward(const Blas& blas, const float* x, const float* w, const float* dy, int batch,
                     int in, int out, bool accumulate, float* dw, float* db, const float* ones,
                     float* dx);

}  // namespace dtlab::cuda
