#include "tensor_parallel_cuda.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "dtlab/cuda/kernels.hpp"
#include "dtlab/error.hpp"

namespace lab03::cuda {

using dtlab::Error;
using dtlab::ShardKind;
namespace dc = dtlab::cuda;

GpuTensorParallelMlp::GpuTensorParallelMlp(const TensorParallelMlp& host, dc::DeviceComm& dcomm,
                                           cudaStream_t stream, bool tf32)
    : config_(host.config()), layers_(host.layers()), dcomm_(dcomm), stream_(stream),
      blas_(stream, tf32), params_(host.num_params()), grads_(host.num_params()), acts_(host.layers().size()) {
  if (dcomm.size() != host.group().size() || dcomm.rank() != host.group().rank())
    throw Error(fmt::format("GpuTensorParallelMlp: the device communicator is rank {} of {}, the model's "
                            "group rank {} of {}; they must be the same ranks",
                            dcomm.rank(), dcomm.size(), host.group().rank(), host.group().size()));
  upload_params(host.params());
  DTLAB_CUDA_CHECK(cudaMemsetAsync(grads_.data(), 0, grads_.bytes(), stream_));
}

void GpuTensorParallelMlp::upload_params(std::span<const float> host) {
  if (host.size() != params_.size())
    throw Error(fmt::format("GpuTensorParallelMlp: {} parameters given, this rank holds {}", host.size(), params_.size()));
  dc::copy_to_device(params_.data(), host.data(), host.size(), stream_);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void GpuTensorParallelMlp::download_params(std::span<float> host) const {
  if (host.size() != params_.size())
    throw Error(fmt::format("GpuTensorParallelMlp: room for {} parameters given, this rank holds {}", host.size(), params_.size()));
  dc::copy_to_host(host.data(), params_.data(), host.size(), stream_);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void GpuTensorParallelMlp::download_grads(std::span<float> host) const {
  if (host.size() != grads_.size())
    throw Error(fmt::format("GpuTensorParallelMlp: room for {} gradients given, this rank holds {}", host.size(), grads_.size()));
  dc::copy_to_host(host.data(), grads_.data(), host.size(), stream_);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void GpuTensorParallelMlp::reserve(int batch) {
  if (batch <= capacity_) return;
  int widest = config_.inputs;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const auto& s = layers_[l].shard;
    acts_[l].resize(std::size_t(batch) * std::size_t(s.out.size()));
    widest = std::max({widest, s.in.size(), s.out.size()});
  }
  delta_a_.resize(std::size_t(batch) * std::size_t(widest));
  delta_b_.resize(delta_a_.size());
  row_loss_.resize(std::size_t(batch));
  ones_.resize(std::size_t(batch));
  const std::vector<float> ones(std::size_t(batch), 1.0f);
  dc::copy_to_device(ones_.data(), ones.data(), ones.size(), stream_);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));  // `ones` is pageable and about to go
  capacity_ = batch;
}

const float* GpuTensorParallelMlp::forward(const float* x, int batch) {
  if (batch <= 0) throw Error(fmt::format("GpuTensorParallelMlp: a batch needs at least one sample, got {}", batch));
  reserve(batch);
  const float* in = x;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const auto& L = layers_[l];
    const int in_w = L.shard.in.size(), out_w = L.shard.out.size();
    float* y = acts_[l].data();
    const float* b = L.shard.bias_size() ? params_.data() + L.bias : nullptr;
    const bool relu = l + 1 < layers_.size();
    dc::linear_gemm(blas_, in, params_.data() + L.weight, batch, in_w, out_w, y);
    if (L.shard.kind == ShardKind::row) {
      // Each rank's y is a partial sum over its inputs; rank 0 adds the bias once. The ReLU needs
      // the whole sum, so it waits for the allreduce.
      if (b) dc::bias_relu(y, b, batch, out_w, false, stream_);
      dcomm_.allreduce(y, std::size_t(batch) * std::size_t(out_w), stream_);
      if (relu) dc::bias_relu(y, nullptr, batch, out_w, true, stream_);
    } else {
      dc::bias_relu(y, b, batch, out_w, relu, stream_);  // a replicated layer is a column shard of all
    }
    in = y;
  }
  return acts_.back().data();
}

void GpuTensorParallelMlp::forward_backward(const float* x, const std::int32_t* labels, int batch,
                                            bool accumulate, double* loss_acc, double loss_weight) {
  const float* logits = forward(x, batch);
  // Every rank has the whole logits, so every rank computes the same loss and dlogits.
  dc::softmax_xent(logits, labels, batch, config_.classes, delta_a_.data(), row_loss_.data(), nullptr, stream_);
  if (loss_acc) dc::accumulate_sum(row_loss_.data(), std::size_t(batch), loss_weight / batch, loss_acc, stream_);
  float* delta = delta_a_.data();  // dL/d(output of layer l); then dL/d(its input)
  float* spare = delta_b_.data();
  for (std::size_t l = layers_.size(); l-- > 0;) {
    const auto& L = layers_[l];
    const int in_w = L.shard.in.size(), out_w = L.shard.out.size();
    if (l + 1 < layers_.size()) dc::relu_backward(acts_[l].data(), delta, std::size_t(batch) * std::size_t(out_w), stream_);
    const float* in = l == 0 ? x : acts_[l - 1].data();
    float* db = L.shard.bias_size() ? grads_.data() + L.bias : nullptr;
    dc::linear_backward(blas_, in, params_.data() + L.weight, delta, batch, in_w, out_w, accumulate,
                        grads_.data() + L.weight, db, ones_.data(), l > 0 ? spare : nullptr);
    // A column shard's dy W is its outputs' share of dL/dx: the allreduce adds the p shares. A row
    // shard's is already its block of dL/dx, and a replicated layer's the whole of it.
    if (l > 0 && L.shard.kind == ShardKind::column && !L.replicated)
      dcomm_.allreduce(spare, std::size_t(batch) * std::size_t(in_w), stream_);
    std::swap(delta, spare);
  }
}

GpuTensorParallel::GpuTensorParallel(std::string backend, bool tf32)
    : backend_(std::move(backend)), tf32_(tf32) {}

GpuTensorParallel::~GpuTensorParallel() = default;

void GpuTensorParallel::setup(const dtlab::Comm& comm, const dtlab::TrainConfig& cfg) {
  const dc::Placement placement = dc::place_on_gpu(comm);
  dcomm_ = std::make_unique<dc::DeviceComm>(comm, placement, dc::parse_backend(backend_));
  host_ = std::make_unique<TensorParallelMlp>(cfg.model, comm);
  host_->init(cfg.seed);
  stream_ = std::make_unique<dc::Stream>();
  model_ = std::make_unique<GpuTensorParallelMlp>(*host_, *dcomm_, *stream_, tf32_);
  opt_ = std::make_unique<dc::GpuOptimizer>(cfg.optimizer, model_->num_params());
  loss_.resize(1);
}

float GpuTensorParallel::step(const dtlab::Comm&, std::span<const float> x,
                              std::span<const std::int32_t> labels, const dtlab::StepInfo& info) {
  const std::size_t m = std::size_t(info.micro_batches), n = labels.size() / m;
  const std::size_t features = x.size() / labels.size();
  x_.reserve(x.size());
  y_.reserve(labels.size());
  dc::copy_to_device(x_.data(), x.data(), x.size(), *stream_);
  dc::copy_to_device(y_.data(), labels.data(), labels.size(), *stream_);
  DTLAB_CUDA_CHECK(cudaMemsetAsync(loss_.data(), 0, loss_.bytes(), *stream_));
  for (std::size_t i = 0; i < m; ++i)
    model_->forward_backward(x_.data() + i * n * features, y_.data() + i * n, int(n), i > 0,
                             loss_.data(), 1.0 / double(m));
  opt_->step(model_->params(), model_->grads(), info.lr, 1.0f / float(m), *stream_);
  double loss = 0;
  dc::copy_to_host(&loss, loss_.data(), 1, *stream_);
  stream_->synchronize();
  return float(loss);
}

void GpuTensorParallel::gather(const dtlab::Comm&, dtlab::Mlp& whole) {
  model_->download_params(host_->params());
  host_->gather(whole);
}

}  // namespace lab03::cuda
