// The CPU-only build: no CUDA compiler was found when dtlab was configured.
#include "dtlab/gpu.hpp"

namespace dtlab {
bool built_with_cuda() { return false; }
std::vector<GpuInfo> visible_gpus() { return {}; }
}  // namespace dtlab
