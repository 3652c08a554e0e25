// Lab 03's tensor parallelism on the GPU: `dtlab train --strategy tp --device cuda`.
//
// The same layout and plan as the CPU reference (tensor_parallel.cpp): each rank keeps
// TensorParallelMlp's blocks, at the same offsets of one flat parameter buffer, and runs each MLP
// block as column-parallel Linear, ReLU, row-parallel Linear, with one allreduce forward and one
// backward. What changes is where the work runs: the GEMMs are cuBLAS's, and the allreduces are
// NCCL's, queued on the same stream as the GEMMs, as Megatron-LM queues them. Each allreduce's
// result is the next GEMM's input, so within a block there is nothing to overlap it with; on the
// same stream the GPU simply runs GEMM, allreduce, GEMM in order and the host never waits inside
// a step. (Where ranks share one GPU, DeviceComm reduces through the host instead: correct, slow.)
//
// On p GPUs each one does 1/p of every split layer's FLOPs and keeps 1/p of its weights: what
// tensor parallelism buys is a model that no longer fits one device, and a step that is shorter
// as long as the allreduces ride a fast link (NVLink: one node, which is where Megatron keeps it).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dtlab/cuda/comm.hpp"
#include "dtlab/cuda/layers.hpp"
#include "dtlab/cuda/memory.hpp"
#include "dtlab/cuda/optim.hpp"
#include "dtlab/train.hpp"
#include "lab03/model_parallel.hpp"

namespace lab03::cuda {

class GpuTensorParallelMlp {
 public:
  // host: this rank's blocks (their layout and parameters are copied to the device); dcomm: a
  // communicator of the same ranks as host.group(), in the same order.
  GpuTensorParallelMlp(const TensorParallelMlp& host, dtlab::cuda::DeviceComm& dcomm,
                       cudaStream_t stream, bool tf32 = false);

  const dtlab::MlpConfig& config() const { return config_; }
  const std::vector<TensorParallelMlp::Layer>& layers() const { return layers_; }
  std::size_t num_params() const { return params_.size(); }
  float* params() { return params_.data(); }
  float* grads() { return grads_.data(); }
  cudaStream_t stream() const { return stream_; }

  // Synchronous copies between the device buffers and host spans of num_params() floats.
  void upload_params(std::span<const float> host);
  void download_params(std::span<float> host) const;
  void download_grads(std::span<float> host) const;

  // Queues the forward pass of a batch (device x: batch x inputs, the same on every rank) on the
  // stream; returns the device logits (batch x classes), the same on every rank, valid until the
  // next call.
  const float* forward(const float* x, int batch);
  // Queues forward and backward: grads() becomes the gradient of the batch's mean loss, or with
  // accumulate has it added. If loss_acc (a device double) is given, adds loss_weight * the mean
  // loss to it.
  void forward_backward(const float* x, const std::int32_t* labels, int batch, bool accumulate = false,
                        double* loss_acc = nullptr, double loss_weight = 1.0);

 private:
  void reserve(int batch);

  dtlab::MlpConfig config_;
  std::vector<TensorParallelMlp::Layer> layers_;
  dtlab::cuda::DeviceComm& dcomm_;
  cudaStream_t stream_;
  dtlab::cuda::Blas blas_;
  dtlab::cuda::DeviceBuffer<float> params_, grads_;
  int capacity_ = 0;
  std::vector<dtlab::cuda::DeviceBuffer<float>> acts_;  // each layer's output, after its ReLU
  dtlab::cuda::DeviceBuffer<float> delta_a_, delta_b_, ones_, row_loss_;
};

// Tensor parallelism in dtlab::train_sharded's loop, each rank on its GPU: every rank of the job
// holds a 1/p block of each split layer and sees the whole batch, which each step copies from the
// host. The step's loss is read back at its end (one synchronisation per step; the CPU strategy
// returns it too), and evaluation gathers the whole model on the host, as on the CPU.
class GpuTensorParallel final : public dtlab::ShardedStrategy {
 public:
  // backend: --device-comm (auto, nccl, staged); tf32: --tf32.
  GpuTensorParallel(std::string backend, bool tf32);
  ~GpuTensorParallel() override;

  std::string_view name() const override { return "tp"; }
  void setup(const dtlab::Comm& comm, const dtlab::TrainConfig& config) override;
  float step(const dtlab::Comm& comm, std::span<const float> x, std::span<const std::int32_t> labels,
             const dtlab::StepInfo& info) override;
  void gather(const dtlab::Comm& comm, dtlab::Mlp& whole) override;

 private:
  std::string backend_;
  bool tf32_;
  std::unique_ptr<dtlab::cuda::DeviceComm> dcomm_;
  std::unique_ptr<TensorParallelMlp> host_;
  std::unique_ptr<dtlab::cuda::Stream> stream_;
  std::unique_ptr<GpuTensorParallelMlp> model_;
  std::unique_ptr<dtlab::cuda::GpuOptimizer> opt_;
  dtlab::cuda::DeviceBuffer<float> x_;
  dtlab::cuda::DeviceBuffer<std::int32_t> y_;
  dtlab::cuda::DeviceBuffer<double> loss_;  // the step's loss, summed on the device
};

}  // namespace lab03::cuda
