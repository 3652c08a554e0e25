#include <cfloat>
#include <cmath>

#include "dtlab/cuda/check.hpp"
#include "dtlab/cuda/kernels.hpp"

namespace dtlab::cuda {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(std::size_t n, int threads = kThreads) {
  // A grid-stride loop covers the rest, so a few thousand blocks saturate any current GPU.
  const std::size_t b = (n + threads - 1) / threads;
  return unsigned(b < 4096 ? (b ? b : 1) : 4096);
}

__global__ void bias_relu_kernel(float* y, const float* b, int rows, int cols, bool relu) {
  const std::size_t n = std::size_t(rows) * cols;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const float v = b ? y[i] + b[i % cols] : y[i];
    y[i] = relu ? fmaxf(v, 0.0f) : v;
  }
}

__global__ void relu_backward_kernel(const float* y, float* dy, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x)
    if (!(y[i] > 0.0f)) dy[i] = 0.0f;
}

__device__ float warp_max(float v) {
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One warp per row: classifier heads are narrow (10 classes here), so a block per row would idle.
__global__ void softmax_xent_kernel(const float* logits, const std::int32_t* labels, int rows,
                                   int classes, float* dlogits, float* loss, float* correct) {
  const int warps = blockDim.x / 32;
  const int row = blockIdx.x * warps + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;  // whole warps leave together: rows are assigned per warp
  const float* z = logits + std::size_t(row) * classes;
  float m = -FLT_MAX;
  for (int c = lane; c < classes; c += 32) m = fmaxf(m, z[c]);
  m = warp_max(m);
  float s = 0;
  for (int c = lane; c < classes; c += 32) s += expf(z[c] - m);
  s = warp_sum(s);
  const int y = labels[row];
  const bool valid = y >= 0 && y < classes;
  if (lane == 0) {
    loss[row] = valid ? logf(s) + m - z[y] : NAN;
    if (correct) {
      int best = 0;  // the first maximum, as std::max_element picks on the CPU
      for (int c = 1; c < classes; ++c)
        if (z[c] > z[best]) best = c;
      correct[row] = best == y ? 1.0f : 0.0f;
    }
  }
  if (dlogits) {
    const float inv = 1.0f / float(rows);
    for (int c = lane; c < classes; c += 32)
      dlogits[std::size_t(row) * classes + c] = (expf(z[c] - m) / s - (c == y ? 1.0f : 0.0f)) * inv;
  }
}

// One block: each thread sums a strided share, then a tree in shared memory. Fixed order.
__global__ void accumulate_sum_kernel(const float* v, std::size_t n, double scale, double* acc) {
  __shared__ double part[kThreads];
  double s = 0;
  for (std::size_t i = threadIdx.x; i < n; i += blockDim.x) s += double(v[i]);
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w /= 2) {
    if (int(threadIdx.x) < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  if (threadIdx.x == 0) *acc += scale * part[0];
}

__global__ void add_kernel(float* dst, const float* src, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x)
    dst[i] += src[i];
}

__global__ void scale_kernel(float* x, float a, std::size_t n) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x)
    x[i] *= a;
}

__global__ void gather_kernel(const std::uint8_t* x, const std::int32_t* labels,
                              const std::int64_t* idx, int n, int features, float scale,
                              float shift, float* out, std::int32_t* labels_out) {
  const std::size_t total = std::size_t(n) * features;
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < total;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const std::size_t k = i / features, j = i % features;
    const std::int64_t src = idx[k];
    out[i] = __fmaf_rn(float(x[std::size_t(src) * features + j]), scale, shift);
    if (j == 0) labels_out[k] = labels[src];
  }
}

__global__ void sgd_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ b,
                           std::size_t n, float lr, float scale, float wd, float keep, float cg,
                           float cb) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const float gi = scale * g[i] + wd * p[i];
    const float bi = keep * b[i] + gi;
    b[i] = bi;
    p[i] -= lr * (cg * gi + cb * bi);
  }
}

__global__ void adam_kernel(float* __restrict__ p, const float* __restrict__ g, float* __restrict__ m,
                            float* __restrict__ v, std::size_t n, float scale, float wd,
                            bool decoupled, float b1, float b2, float eps, float step_size,
                            float inv_sqrt_bc2, float decay) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    const float gi = decoupled ? scale * g[i] : scale * g[i] + wd * p[i];
    const float mi = b1 * m[i] + (1 - b1) * gi;
    const float vi = b2 * v[i] + (1 - b2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - step_size * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
  }
}

}  // namespace

void bias_relu(float* y, const float* b, int rows, int cols, bool relu, cudaStream_t stream) {
  const std::size_t n = std::size_t(rows) * cols;
  if (n == 0) return;
  bias_relu_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, b, rows, cols, relu);
  DTLAB_CUDA_CHECK_LAUNCH();
}

void relu_backward(const float* y, float* dy, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  relu_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, dy, n);
  DTLAB_CUDA_CHECK_LAUNCH();
}

void softmax_xent(const float* logits, const std::int32_t* labels, int rows, int classes,
                  float* dlogits, float* loss, float* correct, cudaStream_t stream) {
  if (rows == 0) return;
  constexpr int kWarps = kThreads / 32;
  softmax_xent_kernel<<<unsigned((rows + kWarps - 1) / kWarps), kThreads, 0, stream>>>(
      logits, labels, rows, classes, dlogits, loss, correct);
  DTLAB_CUDA_CHECK_LAUNCH();
}

void accumulate_sum(const float* v, std::size_t n, double scale, double* acc, cudaStream_t stream) {
  accumulate_sum_kernel<<<1, kThreads, 0, stream>>>(v, n, scale, acc);
  DTLAB_CUDA_CHECK_LAUNCH();
}

void add(float* dst, const float* src, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(dst, src, n);
  DTLAB_CUDA_CHECK_LAUNCH();
}

void scale(float* x, float a, std::size_t n, cudaStream_t stream) {
  if (n == 0) return;
  scale_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, a, n);
  DTLAB_CUDA_CHECK_LAUNCH();
}

void gather_batch(const std::uint8_t* x, const std::int32_t* labels, const std::int64_t* idx, int n,
                  int features, float scale, float shift, float* out, std::int32_t* labels_out,
                  cudaStream_t stream) {
  const std::size_t total = std::size_t(n) * features;
  if (total == 0) return;
  // fma(v, scale, shift) rounded once, as Dataset::gather: the same bits on both devices.
  gather_kernel<<<blocks_for(total), kThreads, 0, stream>>>(x, labels, idx, n, features, scale,
                                                            shift, out, labels_out);
  DTLAB_CUDA_CHECK_LAUNCH();
}

void sgd_update(float* p, const float* g, float* buf, std::size_t n, float lr, float scale, float wd,
                float keep, float cg, float cb, cudaStream_t stream) {
  if (n == 0) return;
  sgd_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, g, buf, n, lr, scale, wd, keep, cg, cb);
  DTLAB_CUDA_CHECK_LAUNCH();
}

void adam_update(float* p, const float* g, float* m, float* v, std::size_t n, float scale, float wd,
                 bool decoupled, float b1, float b2, float eps, float step_size,
                 float inv_sqrt_bc2, float decay, cudaStream_t stream) {
  if (n == 0) return;
  adam_kernel<<<blocks_for(n), kThreads, 0, stream>>>(p, g, m, v, n, scale, wd, decoupled, b1, b2,
                                                      eps, step_size, inv_sqrt_bc2, decay);
  DTLAB_CUDA_CHECK_LAUNCH();
}

}  // namespace dtlab::cuda
