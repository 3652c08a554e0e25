// Lab 05's local SGD, DiLoCo and gossip on the GPU (reference/lab05/cuda) against the CPU
// reference's classes, step by step, on 1 and 2 ranks. The gradients are the CPU tests' (small
// multiples of 1/8 that depend on the parameters, lab05_test.hpp) and every rate and momentum is
// a power of two, so every value is exact in float on either device: the parameters must agree
// to the bit after every step (gossip's division by d + 1 is the CPU reference's own, on staged
// memory). Written into the model's gradient buffer directly, so no forward pass is involved.
#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "dtlab/cuda/comm.hpp"
#include "dtlab/mlp.hpp"
#include "gpu_test.hpp"
#include "lab05/cuda/local_sgd_cuda.hpp"
#include "lab05_test.hpp"

namespace lab05 {
namespace {

using dtlab::labtest::for_each_size;
namespace dc = dtlab::cuda;

enum class Kind { local, diloco, gossip };

void expect_gpu_matches_cpu(const Comm& group, Kind kind) {
  const dtlab::MlpConfig config{.inputs = 6, .hidden = {5}, .classes = 3};
  dtlab::Mlp host(config);
  host.init(3);
  // Parameters on a grid of 1/64 (exact from here on), the same on every rank.
  for (float& p : host.params()) p = std::round(p * 64.0f) / 64.0f;
  const std::size_t n = host.num_params();
  const dtlab::OptimizerConfig inner{.name = "sgd", .momentum = 0.5};
  const OuterConfig outer{.lr = 0.5, .momentum = 0.5, .nesterov = true};
  constexpr int H = 3;
  // The CPU reference.
  std::vector<float> cpu(host.params().begin(), host.params().end()), g(n);
  auto cpu_opt = dtlab::make_optimizer(inner, n);
  LocalSgd local(group, H);
  DiLoCo diloco(group, cpu, H, outer);
  // The GPU reference.
  dc::DeviceComm dcomm(group, dc::place_on_gpu(group));
  dc::Stream stream;
  dc::GpuMlp model(host, stream);
  dc::GpuOptimizer gpu_opt(inner, n);
  std::unique_ptr<dc::GpuStrategy> strategy;
  if (kind == Kind::local) strategy = std::make_unique<cuda::GpuLocalSgd>(dcomm, H);
  if (kind == Kind::diloco) strategy = std::make_unique<cuda::GpuDiLoCo>(dcomm, H, outer);
  if (kind == Kind::gossip) strategy = std::make_unique<cuda::GpuGossip>(dcomm, Topology::ring, 1);
  strategy->setup(dcomm, model);
  std::vector<float> gpu(n);
  for (std::int64_t s = 0; s < 10; ++s) {
    test::local_gradient(group.rank(), s, cpu, g);
    DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream));
    DTLAB_CUDA_CHECK(cudaMemcpy(model.grads(), g.data(), n * sizeof(float), cudaMemcpyHostToDevice));
    strategy->step(model, gpu_opt, {.step = s, .lr = 0.25, .micro_batches = 1});
    cpu_opt->step(cpu, g, 0.25);
    if (kind == Kind::local) local.after_step(cpu);
    if (kind == Kind::diloco) diloco.after_step(cpu);
    if (kind == Kind::gossip) gossip_mix(group, Topology::ring, cpu);
    DTLAB_CUDA_CHECK(cudaStreamSynchronize(stream));
    model.download_params(gpu);
    ASSERT_EQ(gpu, cpu) << "after step " << s;
  }
}

TEST(GpuLab05, LocalSgdMatchesTheCpuReferenceToTheBit) {
  DTLAB_REQUIRE_GPU();
  for_each_size([](const Comm& group) { expect_gpu_matches_cpu(group, Kind::local); });
}

TEST(GpuLab05, DiLoCoMatchesTheCpuReferenceToTheBit) {
  DTLAB_REQUIRE_GPU();
  for_each_size([](const Comm& group) { expect_gpu_matches_cpu(group, Kind::diloco); });
}

TEST(GpuLab05, GossipMatchesTheCpuReferenceToTheBit) {
  DTLAB_REQUIRE_GPU();
  for_each_size([](const Comm& group) { expect_gpu_matches_cpu(group, Kind::gossip); });
}

}  // namespace
}  // namespace lab05
