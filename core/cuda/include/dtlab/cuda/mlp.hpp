// dtlab's MLP on the GPU: the same layers, layout and flat buffers as dtlab::Mlp (mlp.hpp), with
// the cuBLAS Linear layers of layers.hpp and the kernels of kernels.hpp. Parameters and gradients
// are two flat device buffers, so a bucket of gradients is one range of grads(), as on the CPU.
//
// Nothing here waits for the GPU: forward_backward queues its work on the model's stream and
// returns; the loss is added to a device accumulator that the trainer reads once per epoch.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "dtlab/cuda/layers.hpp"
#include "dtlab/cuda/memory.hpp"
#include "dtlab/mlp.hpp"

namespace dtlab::cuda {

class GpuMlp {
 public:
  // The shape of host (its config and layer slices), with host's parameters copied to the device.
  GpuMlp(const Mlp& host, cudaStream_t stream, bool tf32 = false);

  const MlpConfig& config() const { return config_; }
  const std::vector<LayerSlice>& layers() const { return layers_; }
  std::size_t num_params() const { return params_.size(); }
  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  const float* grads() const { return grads_.data(); }
  cudaStream_t stream() const { return stream_; }

  // Synchronous copies between the device buffers and host spans of num_params() floats.
  void upload_params(std::span<const float> host);
  void download_params(std::span<float> host) const;
  void download_grads(std::span<float> host) const;

  // Called on the host right after layer l's backward is queued (last layer first): the point
  // where a strategy records an event for that layer's gradients.
  using GradReady = std::function<void(int layer)>;

  // Queues forward and backward of one batch (device x: batch x inputs, labels: batch) on the
  // model's stream. Overwrites grads() with the gradient of the batch's mean loss, or with
  // accumulate adds it. If loss_acc is given, adds loss_weight * mean loss to it.
  void forward_backward(const float* x, const std::int32_t* labels, int batch,
                        const GradReady& ready = {}, bool accumulate = false,
                        double* loss_acc = nullptr, double loss_weight = 1.0);

  // Queues a forward pass and adds the summed loss and number of correct predictions to the
  // device accumulators.
  void evaluate(const float* x, const std::int32_t* labels, int batch, double* loss_sum,
                double* correct);

  // The mean loss of the last forward_backward's batch (synchronises the stream): for tests.
  float last_loss();

 private:
  void forward(const float* x, int batch);
  void reserve(int batch);

  MlpConfig config_;
  std::vector<LayerSlice> layers_;
  cudaStream_t stream_;
  Blas blas_;
  DeviceBuffer<float> params_, grads_;
  int capacity_ = 0, last_batch_ = 0;
  std::vector<DeviceBuffer<float>> acts_;
  DeviceBuffer<float> delta_a_, delta_b_, ones_, row_loss_, row_correct_;
};

}  // namespace dtlab::cuda
