// Lab 03's tensor parallelism on the GPU (reference/lab03/cuda) against the same oracle as the
// CPU lab: the whole model in double precision, with the rounding bound derived in lab03_test.hpp
// (it holds for any summation order, so for cuBLAS's too). Run on 1 and 2 ranks; every test splits
// the world into groups of each size. On a one-GPU machine 2 ranks share the GPU and DeviceComm
// stages through MPI; where each rank has a GPU of its own the allreduces are NCCL's.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "dtlab/cuda/comm.hpp"
#include "dtlab/error.hpp"
#include "gpu_test.hpp"
#include "lab03/cuda/tensor_parallel_cuda.hpp"
#include "lab03_test.hpp"

namespace lab03 {
namespace {

using namespace lab03::test;
using dtlab::test::to_device;
using dtlab::test::to_host;
namespace dc = dtlab::cuda;

// A device communicator that records the size of every allreduce it is asked for, in order.
class CountingComm final : public dc::DeviceComm {
 public:
  using DeviceComm::DeviceComm;
  void allreduce(float* data, std::size_t n, cudaStream_t stream) override {
    sizes.push_back(n);
    DeviceComm::allreduce(data, n, stream);
  }
  std::vector<std::size_t> sizes;
};

// What every model test needs on a group: its ranks placed on GPUs with their device
// communicator, this rank's blocks of `whole` on the host (where gradients are downloaded to be
// compared) and on the device, and the batch on the device.
struct OnGpu {
  OnGpu(const Comm& group, const dtlab::Mlp& whole, const Batch& b)
      : tp(tp_model(), group), dcomm(group, dc::place_on_gpu(group)), x(to_device(b.x)), y(to_device(b.y)) {
    tp.load(whole);
    model = std::make_unique<cuda::GpuTensorParallelMlp>(tp, dcomm, stream);
  }
  TensorParallelMlp tp;
  CountingComm dcomm;
  dc::Stream stream;
  dc::DeviceBuffer<float> x;
  dc::DeviceBuffer<std::int32_t> y;
  std::unique_ptr<cuda::GpuTensorParallelMlp> model;
};

// Runs everywhere: without a GPU, the strategy `dtlab train --device cuda` builds fails clearly.
TEST(GpuTensorParallel, NoGpuIsAClearErrorOnEveryRank) {
  if (!dtlab::visible_gpus().empty()) GTEST_SKIP() << "a GPU is visible";
  dtlab::TrainConfig cfg;
  cfg.model = tp_model();
  cuda::GpuTensorParallel tp("auto", false);
  try {
    tp.setup(Comm::world(), cfg);
    FAIL() << "setup succeeded without a GPU";
  } catch (const dtlab::Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device is visible"), std::string::npos) << e.what();
  }
}

TEST(GpuTensorParallelMlp, LogitsLossAndEveryGradientMatchTheUnsplitModel) {
  DTLAB_REQUIRE_GPU();
  for_each_size([](const Comm& group) {
    const Case k = clean_case(tp_model(), 32, 23);
    const Oracle& o = k.oracle;
    OnGpu gpu(group, k.model, k.batch);
    auto loss = dtlab::test::zeros<double>(1);
    gpu.model->forward_backward(gpu.x.data(), gpu.y.data(), k.batch.size(), false, loss.data());
    EXPECT_NEAR(to_host(loss.data(), 1)[0], o.loss, 1e-5 * std::abs(o.loss)) << "the batch's mean loss";
    gpu.model->download_grads(gpu.tp.grads());
    expect_gradients_match(gpu.tp, k.model, o, group.size());
    // forward alone gives every rank the whole logits.
    const auto logits = to_host(gpu.model->forward(gpu.x.data(), k.batch.size()), o.logits.size());
    for (std::size_t i = 0; i < logits.size(); ++i)
      ASSERT_LE(std::abs(double(logits[i]) - o.logits[i]), o.logit_bound(i, group.size())) << "logit " << i;
  });
}

TEST(GpuTensorParallelMlp, AccumulatingTwoHalvesAddsTheirGradients) {
  DTLAB_REQUIRE_GPU();
  for_each_size([](const Comm& group) {
    const Case k = clean_case(tp_model(), 32, 25);
    Oracle o = k.oracle;  // each half's mean gradient, summed: twice the whole batch's
    for (auto& g : o.grads) g *= 2;
    for (auto& g : o.grads_abs) g *= 2;
    OnGpu gpu(group, k.model, k.batch);
    const std::size_t half = k.batch.x.size() / 2;
    gpu.model->forward_backward(gpu.x.data(), gpu.y.data(), 16);
    gpu.model->forward_backward(gpu.x.data() + half, gpu.y.data() + 16, 16, true);
    gpu.model->download_grads(gpu.tp.grads());
    expect_gradients_match(gpu.tp, k.model, o, group.size() + 2);
  });
}

TEST(GpuTensorParallelMlp, OneAllreduceForwardPerBlockAndOneBackwardPerBlockButTheFirst) {
  DTLAB_REQUIRE_GPU();
  for_each_size([](const Comm& group) {
    const Batch b = random_batch(tp_model(), 16, 28);
    OnGpu gpu(group, random_model(tp_model(), 27), b);
    gpu.model->forward_backward(gpu.x.data(), gpu.y.data(), b.size());
    gpu.stream.synchronize();
    // As on the CPU: the row layers' outputs (16 x 40, 16 x 32) forward, column layer 2's input
    // gradient (16 x 40) backward; layer 4 is replicated.
    EXPECT_EQ(gpu.dcomm.sizes, (std::vector<std::size_t>{16 * 40, 16 * 32, 16 * 40}));
  });
}

// The strategy of `dtlab train --strategy tp --device cuda`, step by step: its own initialisation,
// micro-batches, optimizer and gather, against the whole model trained in one process.
TEST(GpuTensorParallel, TrainingStepsMatchTheUnsplitModel) {
  DTLAB_REQUIRE_GPU();
  for_each_size([](const Comm& group) {
    std::vector<Batch> batches;
    for (int k = 0; k < 4; ++k) batches.push_back(random_batch(tp_model(), 32, 30 + std::uint64_t(k)));
    dtlab::Mlp whole(tp_model());
    whole.init(29);
    const auto expect = train_whole(whole, batches);
    for (const int micro : {1, 2}) {
      SCOPED_TRACE("micro-batches " + std::to_string(micro));
      dtlab::TrainConfig cfg;
      cfg.model = tp_model();
      cfg.seed = 29;
      cfg.optimizer = optimizer_config();
      cuda::GpuTensorParallel tp("auto", false);
      tp.setup(group, cfg);
      for (std::size_t k = 0; k < batches.size(); ++k)
        tp.step(group, batches[k].x, batches[k].y, {std::int64_t(k), kTrainLr, micro});
      dtlab::Mlp got(tp_model());
      tp.gather(group, got);
      EXPECT_LE(relative_difference(got.params(), expect), kTrainTolerance) << "after 4 steps";
    }
  });
}

}  // namespace
}  // namespace lab03
