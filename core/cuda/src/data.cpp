#include "dtlab/cuda/data.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "dtlab/cuda/kernels.hpp"
#include "dtlab/error.hpp"

namespace dtlab::cuda {

DeviceDataset::DeviceDataset(const Dataset& data, cudaStream_t stream)
    : size_(data.size), features_(data.features), norm_(data.normalisation()),
      x_(data.x.size()), y_(data.y.size()) {
  copy_to_device(x_.data(), data.x.data(), data.x.size(), stream);
  copy_to_device(y_.data(), data.y.data(), data.y.size(), stream);
  DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void DeviceDataset::gather(const std::int64_t* device_indices, int n, float* x,
                           std::int32_t* labels, cudaStream_t stream) const {
  gather_batch(x_.data(), y_.data(), device_indices, n, features_, norm_.scale, norm_.shift, x,
               labels, stream);
}

IndexUploader::IndexUploader(std::size_t capacity) {
  for (int i = 0; i < 2; ++i) {
    host_[i].resize(capacity);
    device_[i].resize(capacity);
  }
}

const std::int64_t* IndexUploader::upload(std::span<const std::int64_t> indices, cudaStream_t stream) {
  const int i = next_;
  next_ = 1 - next_;
  if (indices.size() > host_[i].size())
    throw Error(fmt::format("IndexUploader: {} indices, room for {}", indices.size(), host_[i].size()));
  if (used_[i]) copied_[i].synchronize();  // the GPU has read this buffer's previous contents
  std::copy(indices.begin(), indices.end(), host_[i].data());
  copy_to_device(device_[i].data(), host_[i].data(), indices.size(), stream);
  copied_[i].record(stream);
  used_[i] = true;
  return device_[i].data();
}

}  // namespace dtlab::cuda
