// What GPUs this process can see. Empty when dtlab was built without CUDA or no device is visible.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace dtlab {

struct GpuInfo {
  int index = 0;
  std::string name;
  std::size_t memory_bytes = 0;
  int compute_major = 0;
  int compute_minor = 0;
};

bool built_with_cuda();
std::vector<GpuInfo> visible_gpus();

}  // namespace dtlab
