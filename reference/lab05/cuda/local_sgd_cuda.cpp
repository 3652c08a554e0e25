#include "local_sgd_cuda.hpp"

#include <fmt/format.h>

#include "dtlab/cuda/check.hpp"
#include "dtlab/cuda/kernels.hpp"
#include "dtlab/error.hpp"

namespace lab05::cuda {

namespace {
void check_sync_every(int sync_every) {
  if (sync_every < 1) throw dtlab::Error(fmt::format("sync every {} steps? Expected 1 or more", sync_every));
}
// The optimizer step every strategy here starts with: the rank's own replica, its own gradient.
void local_step(dtlab::cuda::GpuMlp& model, dtlab::cuda::GpuOptimizer& opt, const dtlab::StepInfo& info) {
  opt.step(model.params(), model.grads(), info.lr, 1.0f / float(info.micro_batches), model.stream());
}
}  // namespace

// ---- local SGD ----

GpuLocalSgd::GpuLocalSgd(dtlab::cuda::DeviceComm& dcomm, int sync_every) : dcomm_(dcomm), sync_every_(sync_every) {
  check_sync_every(sync_every);
}

void GpuLocalSgd::average(dtlab::cuda::GpuMlp& model) {
  dcomm_.allreduce(model.params(), model.num_params(), model.stream());
  dtlab::cuda::scale(model.params(), 1.0f / float(dcomm_.size()), model.num_params(), model.stream());
  since_ = 0;
}

void GpuLocalSgd::step(dtlab::cuda::GpuMlp& model, dtlab::cuda::GpuOptimizer& opt, const dtlab::StepInfo& info) {
  local_step(model, opt, info);
  if (++since_ == sync_every_) average(model);
}

void GpuLocalSgd::epoch_end(dtlab::cuda::GpuMlp& model) {
  if (since_ > 0) average(model);
}

// ---- DiLoCo ----

GpuDiLoCo::GpuDiLoCo(dtlab::cuda::DeviceComm& dcomm, int sync_every, OuterConfig outer)
    : dcomm_(dcomm), sync_every_(sync_every), outer_(outer) {
  check_sync_every(sync_every);
}

void GpuDiLoCo::setup(dtlab::cuda::DeviceComm& dcomm, dtlab::cuda::GpuMlp& model) {
  GpuStrategy::setup(dcomm, model);  // rank 0's parameters everywhere: the first global model
  const std::size_t n = model.num_params();
  global_.resize(n);
  delta_.resize(n);
  DTLAB_CUDA_CHECK(cudaMemcpyAsync(global_.data(), model.params(), n * sizeof(float), cudaMemcpyDeviceToDevice,
                                   model.stream()));
  optimizer_ = std::make_unique<dtlab::cuda::GpuOptimizer>(
      dtlab::OptimizerConfig{.name = "sgd", .momentum = outer_.momentum, .nesterov = outer_.nesterov}, n);
}

void GpuDiLoCo::outer_round(dtlab::cuda::GpuMlp& model) {
  const std::size_t n = model.num_params();
  const cudaStream_t s = model.stream();
  // delta = global - params, as -params + global: the same rounding as the subtraction.
  DTLAB_CUDA_CHECK(cudaMemcpyAsync(delta_.data(), model.params(), n * sizeof(float), cudaMemcpyDeviceToDevice, s));
  dtlab::cuda::scale(delta_.data(), -1.0f, n, s);
  dtlab::cuda::add(delta_.data(), global_.data(), n, s);
  dcomm_.allreduce(delta_.data(), n, s);
  optimizer_->step(global_.data(), delta_.data(), outer_.lr, 1.0f / float(dcomm_.size()), s);
  DTLAB_CUDA_CHECK(cudaMemcpyAsync(model.params(), global_.data(), n * sizeof(float), cudaMemcpyDeviceToDevice, s));
  since_ = 0;
}

void GpuDiLoCo::step(dtlab::cuda::GpuMlp& model, dtlab::cuda::GpuOptimizer& opt, const dtlab::StepInfo& info) {
  local_step(model, opt, info);
  if (++since_ == sync_every_) outer_round(model);
}

void GpuDiLoCo::epoch_end(dtlab::cuda::GpuMlp& model) {
  if (since_ > 0) outer_round(model);
}

// ---- gossip ----

GpuGossip::GpuGossip(dtlab::cuda::DeviceComm& dcomm, Topology topology, int sync_every)
    : dcomm_(dcomm), topology_(topology), sync_every_(sync_every) {
  check_sync_every(sync_every);
}

void GpuGossip::step(dtlab::cuda::GpuMlp& model, dtlab::cuda::GpuOptimizer& opt, const dtlab::StepInfo& info) {
  local_step(model, opt, info);
  if ((info.step + 1) % sync_every_ != 0) return;
  host_.resize(model.num_params());
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(model.stream()));  // the step's update is in params
  model.download_params(host_);
  gossip_mix(dcomm_.comm(), topology_, host_);
  model.upload_params(host_);
}

}  // namespace lab05::cuda
