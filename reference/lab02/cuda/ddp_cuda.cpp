#include "ddp_cuda.hpp"

#include "lab01/cuda/device_collectives.hpp"

namespace lab02::cuda {

using dtlab::cuda::Backend;

GpuDistributedDataParallel::GpuDistributedDataParallel(dtlab::cuda::DeviceComm& dcomm,
                                                       GpuDdpOptions options)
    : dcomm_(dcomm), options_(options) {}

GpuDistributedDataParallel::~GpuDistributedDataParallel() = default;

bool GpuDistributedDataParallel::host_driven() const {
  return options_.allreduce == DeviceAllreduce::lab01 || dcomm_.backend() == Backend::staged;
}

void GpuDistributedDataParallel::setup(dtlab::cuda::DeviceComm& dcomm, dtlab::cuda::GpuMlp& model) {
  GpuStrategy::setup(dcomm, model);  // rank 0's parameters everywhere
  buckets_ = make_buckets(model.layers(), options_.bucket_bytes);
  bucket_closed_by_.assign(model.layers().size(), -1);
  for (std::size_t b = 0; b < buckets_.size(); ++b) bucket_closed_by_[buckets_[b].first_layer] = int(b);
  comm_stream_ = std::make_unique<dtlab::cuda::Stream>();
  ready_.clear();
  for (std::size_t b = 0; b < buckets_.size(); ++b) ready_.emplace_back();
  done_ = std::make_unique<dtlab::cuda::Event>();
  DTLAB_CUDA_CHECK(cudaGetDevice(&device_));
  if (host_driven()) worker_ = std::make_unique<dtlab::CommWorker>(dcomm.comm());
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(model.stream()));
}

void GpuDistributedDataParallel::backward_begins(dtlab::cuda::GpuMlp&, int micro, int micro_batches) {
  communicate_ = micro == micro_batches - 1;  // earlier micro-batches only accumulate (no_sync)
  launched_ = 0;
}

void GpuDistributedDataParallel::grad_ready(dtlab::cuda::GpuMlp& model, int layer) {
  if (!communicate_ || !options_.overlap) return;
  const int b = bucket_closed_by_[std::size_t(layer)];
  if (b >= 0) launch(model, std::size_t(b));
}

void GpuDistributedDataParallel::launch(dtlab::cuda::GpuMlp& model, std::size_t b) {
  const Bucket& bucket = buckets_[b];
  float* data = model.grads() + bucket.begin;
  const std::size_t n = bucket.end - bucket.begin;
  ready_[b].record(model.stream());  // the bucket's gradients are final once this point is reached
  ++launched_;
  if (!host_driven()) {
    comm_stream_->wait(ready_[b]);
    dcomm_.allreduce(data, n, *comm_stream_);
    return;
  }
  const cudaEvent_t ready = ready_[b];
  const cudaStream_t stream = *comm_stream_;
  const int device = device_;
  const bool lab01 = options_.allreduce == DeviceAllreduce::lab01;
  pending_.push_back(worker_->submit([this, ready, stream, device, lab01, data, n](const dtlab::Comm& c) {
    DTLAB_CUDA_CHECK(cudaSetDevice(device));  // the current device is per thread
    DTLAB_CUDA_CHECK(cudaEventSynchronize(ready));
    if (lab01) lab01::cuda::allreduce(c, data, n, stream);
    else dcomm_.allreduce(data, n, stream);
  }));
}

void GpuDistributedDataParallel::step(dtlab::cuda::GpuMlp& model, dtlab::cuda::GpuOptimizer& opt,
                                      const dtlab::StepInfo& info) {
  // Without overlap (or if a layer closed no bucket, which make_buckets never leaves) the
  // remaining buckets start now, in the same order on every rank.
  for (std::size_t b = launched_; b < buckets_.size(); ++b) launch(model, b);
  for (auto& w : pending_) worker_->wait(w);
  pending_.clear();
  done_->record(*comm_stream_);
  DTLAB_CUDA_CHECK(cudaStreamWaitEvent(model.stream(), *done_, 0));
  opt.step(model.params(), model.grads(), info.lr,
           1.0f / float(dcomm_.size() * info.micro_batches), model.stream());
  launched_ = 0;
}

}  // namespace lab02::cuda
