// A dataset kept on the device as its raw uint8 pixels (a quarter of the floats' size: 47 MB for
// Fashion-MNIST's training set), and batches gathered and normalised there by a kernel, so that
// a training step copies only its sample indices to the GPU.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <span>

#include "dtlab/cuda/memory.hpp"
#include "dtlab/data.hpp"

namespace dtlab::cuda {

class DeviceDataset {
 public:
  // Copies data to the device (synchronously).
  DeviceDataset(const Dataset& data, cudaStream_t stream);

  std::int64_t size() const { return size_; }
  int features() const { return features_; }

  // Queues Dataset::gather of n samples whose indices are already on the device.
  void gather(const std::int64_t* device_indices, int n, float* x, std::int32_t* labels,
              cudaStream_t stream) const;

 private:
  std::int64_t size_;
  int features_;
  Dataset::Normalisation norm_;
  DeviceBuffer<std::uint8_t> x_;
  DeviceBuffer<std::int32_t> y_;
};

// Sample indices on their way to the device: two pinned buffers used in turn, each reused only
// once the GPU has read it, so the host can run one step ahead of the GPU and never further.
class IndexUploader {
 public:
  explicit IndexUploader(std::size_t capacity);
  // Copies indices to the device on stream; the returned pointer is valid until the call after next.
  const std::int64_t* upload(std::span<const std::int64_t> indices, cudaStream_t stream);

 private:
  PinnedBuffer<std::int64_t> host_[2];
  DeviceBuffer<std::int64_t> device_[2];
  Event copied_[2];
  bool used_[2] = {false, false};
  int next_ = 0;
};

}  // namespace dtlab::cuda
