#include "dtlab/cuda/mlp.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "dtlab/cuda/kernels.hpp"
#include "dtlab/error.hpp"

namespace dtlab::cuda {

GpuMlp::GpuMlp(const Mlp& host, cudaStream_t stream, bool tf32)
    : config_(host.config()), layers_(host.layers()), stream_(stream), blas_(stream, tf32),
      params_(host.num_params()), grads_(host.num_params()), acts_(host.layers().size()) {
  upload_params(host.params());
  DTLAB_CUDA_CHECK(cudaMemsetAsync(grads_.data(), 0, grads_.bytes(), stream_));
}

void GpuMlp::upload_params(std::span<const float> host) {
  if (host.size() != params_.size())
    throw Error(fmt::format("GpuMlp: {} parameters given, the model has {}", host.size(), params_.size()));
  copy_to_device(params_.data(), host.data(), host.size(), stream_);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void GpuMlp::download_params(std::span<float> host) const {
  if (host.size() != params_.size())
    throw Error(fmt::format("GpuMlp: room for {} parameters given, the model has {}", host.size(), params_.size()));
  copy_to_host(host.data(), params_.data(), host.size(), stream_);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void GpuMlp::download_grads(std::span<float> host) const {
  if (host.size() != grads_.size())
    throw Error(fmt::format("GpuMlp: room for {} gradients given, the model has {}", host.size(), grads_.size()));
  copy_to_host(host.data(), grads_.data(), host.size(), stream_);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void GpuMlp::reserve(int batch) {
  if (batch <= capacity_) return;
  for (std::size_t l = 0; l < layers_.size(); ++l) acts_[l].resize(std::size_t(batch) * layers_[l].out);
  delta_a_.resize(std::size_t(batch) * widest(layers_));
  delta_b_.resize(std::size_t(batch) * widest(layers_));
  row_loss_.resize(std::size_t(batch));
  row_correct_.resize(std::size_t(batch));
  ones_.resize(std::size_t(batch));
  const std::vector<float> ones(std::size_t(batch), 1.0f);
  copy_to_device(ones_.data(), ones.data(), ones.size(), stream_);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));  // `ones` is pageable and about to go
  capacity_ = batch;
}

void GpuMlp::forward(const float* x, int batch) {
  reserve(batch);
  const float* in = x;
  for (std::size_t l = 0; l < layers_.size(); ++l) {
    const auto& s = layers_[l];
    linear_gemm(blas_, in, params_.data() + s.weight, batch, s.in, s.out, acts_[l].data());
    bias_relu(acts_[l].data(), params_.data() + s.bias, batch, s.out, l + 1 < layers_.size(), stream_);
    in = acts_[l].data();
  }
}

void GpuMlp::forward_backward(const float* x, const std::int32_t* labels, int batch,
                              const GradReady& ready, bool accumulate, double* loss_acc,
                              double loss_weight) {
  if (batch <= 0) throw Error(fmt::format("GpuMlp: a batch needs at least one sample, got {}", batch));
  forward(x, batch);
  const std::size_t L = layers_.size();
  softmax_xent(acts_[L - 1].data(), labels, batch, config_.classes, delta_a_.data(),
               row_loss_.data(), nullptr, stream_);
  if (loss_acc) accumulate_sum(row_loss_.data(), std::size_t(batch), loss_weight / batch, loss_acc, stream_);
  last_batch_ = batch;
  float* delta = delta_a_.data();  // dL/d(output of layer l); then dL/d(its input)
  float* spare = delta_b_.data();
  for (std::size_t l = L; l-- > 0;) {
    const auto& s = layers_[l];
    const float* in = l == 0 ? x : acts_[l - 1].data();
    linear_backward(blas_, in, params_.data() + s.weight, delta, batch, s.in, s.out, accumulate,
                    grads_.data() + s.weight, grads_.data() + s.bias, ones_.data(),
                    l > 0 ? spare : nullptr);  // the data needs no gradient
    if (l > 0) {
      relu_backward(acts_[l - 1].data(), spare, std::size_t(batch) * s.in, stream_);
      std::swap(delta, spare);
    }
    if (ready) ready(int(l));
  }
}

void GpuMlp::evaluate(const float* x, const std::int32_t* labels, int batch, double* loss_sum,
                      double* correct) {
  if (batch <= 0) return;
  forward(x, batch);
  softmax_xent(acts_.back().data(), labels, batch, config_.classes, nullptr, row_loss_.data(),
               row_correct_.data(), stream_);
  accumulate_sum(row_loss_.data(), std::size_t(batch), 1.0, loss_sum, stream_);
  accumulate_sum(row_correct_.data(), std::size_t(batch), 1.0, correct, stream_);
}

float GpuMlp::last_loss() {
  std::vector<float> rows(static_cast<std::size_t>(last_batch_));
  copy_to_host(rows.data(), row_loss_.data(), rows.size(), stream_);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream_));
  double s = 0;
  for (float v : rows) s += v;
  return last_batch_ ? float(s / last_batch_) : 0.0f;
}

}  // namespace dtlab::cuda
