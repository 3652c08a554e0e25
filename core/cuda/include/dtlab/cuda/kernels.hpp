// The CUDA kernels of dtlab's GPU path, as host functions that launch them on a stream. Each one
// mirrors a CPU function (named in its comment) so the tests can compare the two.
//
// Every launch is asynchronous: the function returns once the kernel is queued on `stream`.
// Matrices are row-major, one sample per row, as on the CPU.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

namespace dtlab::cuda {

// y[r][c] += b[c], then y = max(y, 0) when relu: linear_forward's bias and relu_forward, fused
// into one pass over y after the cuBLAS GEMM. A null b adds nothing: the ReLU alone.
void bias_relu(float* y, const float* b, int rows, int cols, bool relu, cudaStream_t stream);

// dy *= (y > 0), y the ReLU's output: relu_backward.
void relu_backward(const float* y, float* dy, std::size_t n, cudaStream_t stream);

// Per row r: loss[r] = logsumexp(logits[r]) - logits[r][labels[r]] and, when dlogits is not null,
// dlogits[r] = (softmax(logits[r]) - onehot(labels[r])) / rows; when correct is not null,
// correct[r] = 1 if the row's first argmax is its label, else 0. softmax_cross_entropy and
// count_correct. Labels outside [0, classes) give a NaN loss instead of reading out of bounds.
void softmax_xent(const float* logits, const std::int32_t* labels, int rows, int classes,
                  float* dlogits, float* loss, float* correct, cudaStream_t stream);

// *acc += scale * (v[0] + ... + v[n-1]), summed in double in a fixed order (deterministic, no
// atomics): how losses and counts accumulate on the device without the host waiting each step.
void accumulate_sum(const float* v, std::size_t n, double scale, double* acc, cudaStream_t stream);

// dst[i] += src[i]: the local reduction step of an allreduce on device buffers.
void add(float* dst, const float* src, std::size_t n, cudaStream_t stream);

// x[i] *= a.
void scale(float* x, float a, std::size_t n, cudaStream_t stream);

// out[k] = fma(x[idx[k]], scale, shift) row by row, labels_out[k] = labels[idx[k]]:
// Dataset::gather with Dataset::normalisation(), from the uint8 images kept on the device.
void gather_batch(const std::uint8_t* x, const std::int32_t* labels, const std::int64_t* idx, int n,
                  int features, float scale, float shift, float* out, std::int32_t* labels_out,
                  cudaStream_t stream);

// torch.optim.SGD in one pass (Optimizer "sgd" on the CPU): g = scale*grad + wd*p;
// buf = keep*buf + g; p -= lr * (cg*g + cb*buf).
void sgd_update(float* p, const float* g, float* buf, std::size_t n, float lr, float scale, float wd,
                float keep, float cg, float cb, cudaStream_t stream);

// torch.optim.Adam / AdamW in one pass (Optimizer "adam"/"adamw" on the CPU).
void adam_update(float* p, const float* g, float* m, float* v, std::size_t n, float scale, float wd,
                 bool decoupled, float b1, float b2, float eps, float step_size,
                 float inv_sqrt_bc2, float decay, cudaStream_t stream);

}  // namespace dtlab::cuda
