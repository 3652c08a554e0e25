// GPU discovery. On a machine without a GPU (CI) this test skips; on one with a GPU it must find it.
#include <gtest/gtest.h>

#include "dtlab/gpu.hpp"

namespace dtlab {
namespace {

TEST(Gpu, VisibleDevicesAreDescribed) {
  const auto gpus = visible_gpus();
  if (gpus.empty()) {
    if (gpu_required()) FAIL() << "DTLAB_REQUIRE_GPU=1 but no GPU is visible";
    GTEST_SKIP() << (built_with_cuda() ? "no GPU visible" : "built without CUDA");
  }
  for (std::size_t i = 0; i < gpus.size(); ++i) {
    EXPECT_EQ(gpus[i].index, int(i));
    EXPECT_FALSE(gpus[i].name.empty());
    EXPECT_GT(gpus[i].memory_bytes, std::size_t(1) << 30);
    EXPECT_GE(gpus[i].compute_major, 7);  // what CUDA 13 supports
    EXPECT_EQ(gpus[i].uuid.size(), 40u) << gpus[i].uuid;  // GPU- and 36 characters, as nvidia-smi -L
    EXPECT_EQ(gpus[i].uuid.rfind("GPU-", 0), 0u) << gpus[i].uuid;
  }
}

}  // namespace
}  // namespace dtlab
