// Communication on device buffers and GPU data parallelism, on real MPI ranks, against serial sums
// and the single-process CPU trainer. Run on 1 and 2 ranks: on a one-GPU machine 2 ranks share
// the GPU (the staged path); NCCL is tested wherever every rank has a GPU of its own (1 rank here),
// and its ordering on streams against a slow stand-in for a second rank on any GPU.
#include <gtest/gtest.h>

#include <chrono>
#include <deque>
#include <string>
#include <thread>

#include "dtlab/baseline.hpp"
#include "dtlab/comm.hpp"
#include "dtlab/cuda/comm.hpp"
#include "dtlab/cuda/kernels.hpp"
#include "dtlab/cuda/mlp.hpp"
#include "dtlab/cuda/optim.hpp"
#include "dtlab/cuda/train.hpp"
#include "dtlab/data.hpp"
#include "dtlab/optim.hpp"
#include "dtlab/train.hpp"
#include "gpu_test.hpp"
#include "lab01/cuda/device_collectives.hpp"
#include "lab02/cuda/ddp_cuda.hpp"
#include "test_util.hpp"

namespace dtlab {
namespace {

using test::to_device;
using test::to_host;

// Rank r's element i: small integers, so any summation order gives the exact sum.
float value(int rank, std::size_t i) { return float((i * 7 + std::size_t(rank) * 13) % 64) - 32; }

// Sizes: empty, one element, fewer than ranks, odd, and a few chunks of the staged path.
const std::size_t kSizes[] = {0, 1, 3, 1001, (std::size_t(1) << 20) * 2 + 5};

template <class Allreduce>
void expect_sums(const Comm& world, Allreduce allreduce) {
  cuda::Stream s;
  for (const std::size_t n : kSizes) {
    SCOPED_TRACE("n = " + std::to_string(n));
    std::vector<float> mine(n);
    for (std::size_t i = 0; i < n; ++i) mine[i] = value(world.rank(), i);
    auto d = to_device(mine);
    allreduce(d.data(), n, s.get());
    const auto got = to_host(d.data(), n);
    std::size_t wrong = 0, first_wrong = n;
    for (std::size_t i = 0; i < n; ++i) {
      float want = 0;
      for (int r = 0; r < world.size(); ++r) want += value(r, i);
      if (got[i] != want && wrong++ == 0) first_wrong = i;
    }
    EXPECT_EQ(wrong, 0u) << "first wrong element " << first_wrong;
  }
}

// Runs everywhere: without a GPU, every rank gets the same clear error, and none hangs.
TEST(DeviceComm, NoGpuIsAClearErrorOnEveryRank) {
  if (!visible_gpus().empty()) GTEST_SKIP() << "a GPU is visible";
  try {
    cuda::place_on_gpu(Comm::world());
    FAIL() << "place_on_gpu succeeded without a GPU";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device is visible"), std::string::npos) << e.what();
  }
  TrainConfig cfg;
  cfg.model = MlpConfig{32, {8}, 10};
  cfg.global_batch = 8;
  cfg.progress = false;
  Mlp model(cfg.model);
  const DataSplit data = make_synthetic({.train = 64, .test = 8, .features = 32});
  EXPECT_THROW(cuda::train_cuda(cfg, {}, data, Comm::world(), model), Error);
}

TEST(DeviceComm, StagedAllreduceAndBroadcastAreExact) {
  DTLAB_REQUIRE_GPU();
  const Comm world = Comm::world();
  const cuda::Placement place = cuda::place_on_gpu(world);
  cuda::DeviceComm dcomm(world, place, cuda::Backend::staged);
  EXPECT_EQ(dcomm.backend(), cuda::Backend::staged);
  expect_sums(world, [&](float* d, std::size_t n, cudaStream_t s) {
    dcomm.allreduce(d, n, s);
    DTLAB_CUDA_CHECK(cudaStreamSynchronize(s));
  });
  cuda::Stream s;
  std::vector<float> mine(4099, float(world.rank() + 1));
  auto d = to_device(mine);
  dcomm.broadcast(d.data(), mine.size(), world.size() - 1, s);
  EXPECT_EQ(to_host(d.data(), mine.size()), std::vector<float>(mine.size(), float(world.size())));
}

TEST(DeviceComm, NcclAllreduceIsExactWhereEveryRankHasAGpu) {
  DTLAB_REQUIRE_GPU();
  const Comm world = Comm::world();
  const cuda::Placement place = cuda::place_on_gpu(world);
  // Several ranks of one machine (these tests run on one) that see a single GPU share it: the
  // comparison of the GPUs' UUIDs must say so.
  if (world.size() > 1 && visible_gpus().size() == 1) {
    EXPECT_TRUE(place.shared) << world.size() << " ranks on one GPU not seen as sharing it";
  }
  if (place.shared) {
    // NCCL refuses two ranks on one GPU; asking for it must say so clearly.
    EXPECT_THROW(cuda::DeviceComm(world, place, cuda::Backend::nccl), Error);
    GTEST_SKIP() << "ranks share a GPU here: NCCL is covered on 1 rank";
  }
  cuda::DeviceComm dcomm(world, place);
  EXPECT_EQ(dcomm.backend(), cuda::Backend::nccl);
  expect_sums(world, [&](float* d, std::size_t n, cudaStream_t s) { dcomm.allreduce(d, n, s); });
}

TEST(DeviceCollectives, Lab01AlgorithmsOnDeviceBuffersAreExact) {
  DTLAB_REQUIRE_GPU();
  const Comm world = Comm::world();
  cuda::place_on_gpu(world);
  for (const char* algo : {"ring", "recursive_doubling", "auto"}) {
    SCOPED_TRACE(algo);
    expect_sums(world, [&](float* d, std::size_t n, cudaStream_t s) {
      const std::string a = algo;
      if (a == "ring") lab01::cuda::allreduce_ring(world, d, n, s);
      else if (a == "recursive_doubling") lab01::cuda::allreduce_recursive_doubling(world, d, n, s);
      else lab01::cuda::allreduce(world, d, n, s);
    });
  }
}

TrainConfig small_config() {
  TrainConfig cfg;
  cfg.model = MlpConfig{32, {24, 16}, 10};
  cfg.global_batch = 48;
  cfg.epochs = 2;
  cfg.max_steps = 40;
  cfg.seed = 11;
  cfg.lr = 0.05;
  cfg.progress = false;
  return cfg;
}

const DataSplit& synthetic() {
  static const DataSplit d = make_synthetic({.train = 1680, .test = 200, .features = 32, .noise = 0.3, .seed = 5});
  return d;
}

Comm self() { return Comm::world().split(Comm::world().rank(), 0); }

// GPU data parallelism, every strategy and backend, against the CPU trainer on one process with
// the global batch: the same steps, so the same parameters up to float rounding.
TEST(GpuTraining, EveryStrategyEqualsSingleProcessCpuTraining) {
  DTLAB_REQUIRE_GPU();
  const Comm world = Comm::world();
  TrainConfig cfg = small_config();
  Mlp oracle(cfg.model);
  SingleProcess single;
  const TrainResult want = train(cfg, synthetic(), self(), single, oracle);

  const std::vector<std::pair<std::string, cuda::GpuStrategyFactory>> strategies = {
      {"allreduce", [](cuda::DeviceComm& d) { return std::make_unique<cuda::GpuAllreduce>(d); }},
      // 1 KiB buckets: several per step, so the ordering of buckets is exercised.
      {"ddp", [](cuda::DeviceComm& d) {
         return std::make_unique<lab02::cuda::GpuDistributedDataParallel>(d, lab02::cuda::GpuDdpOptions{.bucket_bytes = 1024});
       }},
      {"ddp-lab01-no-overlap", [](cuda::DeviceComm& d) {
         return std::make_unique<lab02::cuda::GpuDistributedDataParallel>(
             d, lab02::cuda::GpuDdpOptions{.bucket_bytes = 1024, .overlap = false,
                                           .allreduce = lab02::cuda::DeviceAllreduce::lab01});
       }}};
  for (const auto& [strategy, factory] : strategies)
    for (const int micro : {1, 2}) {
      SCOPED_TRACE(strategy + ", micro-batches " + std::to_string(micro));
      TrainConfig c = cfg;
      c.micro_batches = micro;
      Mlp model(c.model);
      const TrainResult got = cuda::train_cuda(c, {.strategy = factory}, synthetic(), world, model);
      EXPECT_EQ(got.steps, want.steps);
      test::expect_close(model.params(), oracle.params(), 1e-3);
      EXPECT_NEAR(got.train_loss, want.train_loss, 1e-3);
      EXPECT_NEAR(got.test_accuracy, want.test_accuracy, 0.02);
      // The replicas agree (each rank's parameters against rank 0's).
      std::vector<float> rank0(model.params().begin(), model.params().end());
      baseline::broadcast(world, std::span<float>(rank0), 0);
      test::expect_close(model.params(), rank0, 1e-6);
    }
}

// A DeviceComm on one GPU that acts as a 2-rank job whose other rank has the same gradients: its
// allreduce reads the buffer at once, waits 2 ms (a slow link), then adds what it read, giving
// twice the gradient when everything is in order. Then every ordering that DDP's NCCL path relies
// on can fail visibly on one GPU, where a real allreduce of 1 rank is the identity: a bucket whose
// allreduce does not wait for its gradients reads stale values (g + stale, not 2g), and an
// optimizer step that does not wait for the allreduce reads g, not 2g, and halves it.
class SlowTwinComm final : public cuda::DeviceComm {
 public:
  using DeviceComm::DeviceComm;
  int size() const override { return 2; }
  void allreduce(float* data, std::size_t n, cudaStream_t stream) override {
    if (n == 0) return;
    // Kept until the test ends: freeing device memory would synchronise the device, and hide races.
    const float* read = reads_.emplace_back(n).data();
    DTLAB_CUDA_CHECK(cudaMemcpyAsync(const_cast<float*>(read), data, n * sizeof(float),
                                     cudaMemcpyDeviceToDevice, stream));
    DTLAB_CUDA_CHECK(cudaLaunchHostFunc(
        stream, [](void*) { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }, nullptr));
    cuda::add(data, read, n, stream);
  }

 private:
  std::deque<cuda::DeviceBuffer<float>> reads_;
};

TEST(GpuDdp, NcclStreamOrderingHoldsAgainstASlowTwinOnOneGpu) {
  DTLAB_REQUIRE_GPU();
  const Comm one = self();
  const cuda::Placement place = cuda::place_on_gpu(one);
  SlowTwinComm twin(one, place, cuda::Backend::nccl);
  ASSERT_EQ(twin.backend(), cuda::Backend::nccl);
  const TrainConfig cfg = small_config();
  Mlp cpu(cfg.model);
  cpu.init(3);
  cuda::Stream s;
  cuda::GpuMlp gpu(cpu, s);
  cuda::GpuOptimizer gpu_opt(cfg.optimizer, cpu.num_params());
  auto cpu_opt = make_optimizer(cfg.optimizer, cpu.num_params());
  // 1 KiB buckets: several per step, each launched while backward still runs (overlap).
  lab02::cuda::GpuDistributedDataParallel ddp(twin, {.bucket_bytes = 1024});
  ddp.setup(twin, gpu);
  const int batch = 48;
  const Dataset& train = synthetic().train;
  std::vector<float> x(std::size_t(batch) * train.features);
  std::vector<std::int32_t> y(batch);
  for (std::int64_t step = 0; step < 5; ++step) {
    std::vector<std::int64_t> idx(batch);
    for (int i = 0; i < batch; ++i) idx[std::size_t(i)] = (step * batch + i) % train.size;
    train.gather(idx, x, y);
    auto dx = to_device(x);
    auto dy = to_device(y);
    const StepInfo info{.step = step, .lr = 0.05, .micro_batches = 1};
    ddp.backward_begins(gpu, 0, 1);
    gpu.forward_backward(dx.data(), dy.data(), batch, [&](int layer) { ddp.grad_ready(gpu, layer); });
    ddp.step(gpu, gpu_opt, info);
    // The oracle: one process, the same batch (the twin's half of 2g is g).
    cpu.forward_backward(x, y);
    cpu_opt->step(cpu.params(), cpu.grads(), info.lr);
  }
  test::expect_close(to_host(gpu.params(), cpu.num_params()), cpu.params(), 1e-4);
}

TEST(GpuTraining, RefusesWhatItCannotDo) {
  DTLAB_REQUIRE_GPU();
  TrainConfig cfg = small_config();
  cfg.checkpoint_dir = "/tmp/never";
  Mlp model(cfg.model);
  EXPECT_THROW(cuda::train_cuda(cfg, {}, synthetic(), Comm::world(), model), Error);
  cfg.checkpoint_dir.clear();
  EXPECT_THROW(cuda::train_cuda(cfg, {.strategy = nullptr}, synthetic(), Comm::world(), model), Error);
  EXPECT_THROW(cuda::train_cuda(cfg, {.strategy = [](cuda::DeviceComm&) { return std::unique_ptr<cuda::GpuStrategy>(); }},
                                synthetic(), Comm::world(), model),
               Error);
}

}  // namespace
}  // namespace dtlab
