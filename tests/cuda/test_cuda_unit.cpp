// The GPU path against the CPU implementation it mirrors: kernels, the cuBLAS MLP, the optimizers.
// Every test skips where no GPU is visible; on a GPU every one must pass.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <string>

#include "dtlab/cuda/data.hpp"
#include "dtlab/cuda/kernels.hpp"
#include "dtlab/cuda/mlp.hpp"
#include "dtlab/cuda/optim.hpp"
#include "dtlab/data.hpp"
#include "dtlab/error.hpp"
#include "dtlab/layers.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/optim.hpp"
#include "dtlab/rng.hpp"
#include "gpu_test.hpp"
#include "test_util.hpp"

namespace dtlab {
namespace {

using test::to_device;
using test::to_host;

// FP32 GEMMs on the GPU sum in another order than Eigen: agreement to about 1e-6 relative per
// operation, a few 1e-6 through a network. 1e-4 of the largest value leaves room and still fails
// on any real mistake (a missing bias, a transposed weight, a wrong 1/batch are all O(1) wrong).
constexpr double kTol = 1e-4;

std::vector<float> random_floats(std::size_t n, std::uint64_t seed, double lo = -1, double hi = 1) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = float(rng.uniform(lo, hi));
  return v;
}

std::vector<std::int32_t> random_labels(std::size_t n, int classes, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::int32_t> v(n);
  for (auto& y : v) y = std::int32_t(rng.uniform(0, classes)) % classes;
  return v;
}

// Runs everywhere: turning a library's error code into a message needs no device.
TEST(CudaCheck, ErrorsNameTheLibraryTheCallAndTheLine) {
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(nothing thrown)");
  };
  const std::string cuda = message([] { DTLAB_CUDA_CHECK(cudaErrorMemoryAllocation); });
  EXPECT_NE(cuda.find("CUDA error 2 (cudaErrorMemoryAllocation)"), std::string::npos) << cuda;
  EXPECT_NE(cuda.find("in cudaErrorMemoryAllocation at test_cuda_unit.cpp:"), std::string::npos) << cuda;
  const std::string blas = message([] { DTLAB_CUBLAS_CHECK(CUBLAS_STATUS_INVALID_VALUE); });
  EXPECT_NE(blas.find("cuBLAS error 7 (CUBLAS_STATUS_INVALID_VALUE)"), std::string::npos) << blas;
  const std::string nccl = message([] { DTLAB_NCCL_CHECK(ncclSystemError); });
  EXPECT_NE(nccl.find("NCCL error 2"), std::string::npos) << nccl;
  EXPECT_NE(nccl.find("NCCL_DEBUG=WARN"), std::string::npos) << nccl;
  EXPECT_EQ(message([] { DTLAB_CUDA_CHECK(cudaSuccess); }), "(nothing thrown)");
}

TEST(CudaMemory, RoundTripAndErrorsNameTheCall) {
  DTLAB_REQUIRE_GPU();
  const auto host = random_floats(1000, 1);
  cuda::DeviceBuffer<float> d = to_device(host);
  EXPECT_EQ(d.size(), 1000u);
  EXPECT_EQ(to_host(d.data(), d.size()), host);
  cuda::PinnedBuffer<float> pinned(10);
  pinned.reserve(5);
  EXPECT_EQ(pinned.size(), 10u);  // reserve never shrinks
  try {
    cuda::DeviceBuffer<float> huge(std::size_t(1) << 50);  // 4 PiB: no GPU has it
    FAIL() << "allocating 4 PiB did not fail";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cudaMalloc"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("memory.hpp"), std::string::npos) << e.what();
  }
  // The caught failure is not left pending, to be blamed on the next kernel launch.
  EXPECT_EQ(cudaPeekAtLastError(), cudaSuccess) << cudaGetErrorName(cudaPeekAtLastError());
  cuda::Stream s;
  EXPECT_NO_THROW(cuda::add(d.data(), d.data(), d.size(), s));
  s.synchronize();
}

TEST(CudaKernels, BiasReluSoftmaxAndAddMatchTheCpu) {
  DTLAB_REQUIRE_GPU();
  cuda::Stream s;
  const int rows = 37, cols = 10;
  const auto y0 = random_floats(std::size_t(rows) * cols, 2, -3, 3);
  const auto b = random_floats(cols, 3);
  for (const bool relu : {false, true}) {
    auto dy = to_device(y0);
    auto db = to_device(b);
    cuda::bias_relu(dy.data(), db.data(), rows, cols, relu, s);
    const auto got = to_host(dy.data(), dy.size());
    for (int r = 0; r < rows; ++r)
      for (int c = 0; c < cols; ++c) {
        const float want = y0[std::size_t(r) * cols + c] + b[c];
        EXPECT_EQ(got[std::size_t(r) * cols + c], relu ? std::max(want, 0.0f) : want);
      }
  }
  // Softmax cross-entropy: loss, gradient and correct counts against layers.hpp.
  const auto labels = random_labels(rows, cols, 4);
  auto dz = to_device(y0);
  auto dl = to_device(labels);
  cuda::DeviceBuffer<float> dgrad(y0.size()), dloss(rows), dcorrect(rows);
  cuda::softmax_xent(dz.data(), dl.data(), rows, cols, dgrad.data(), dloss.data(), dcorrect.data(), s);
  MatrixRM want_grad(rows, cols);
  const float want_loss = softmax_cross_entropy(ConstMatMap(y0.data(), rows, cols), labels,
                                                MatMap(want_grad.data(), rows, cols));
  const auto loss = to_host(dloss.data(), rows);
  EXPECT_NEAR(std::accumulate(loss.begin(), loss.end(), 0.0) / rows, want_loss, 1e-5);
  test::expect_close(to_host(dgrad.data(), dgrad.size()), std::span<const float>(want_grad.data(), want_grad.size()), 1e-5);
  const auto correct = to_host(dcorrect.data(), rows);
  EXPECT_EQ(std::accumulate(correct.begin(), correct.end(), 0.0),
            double(count_correct(ConstMatMap(y0.data(), rows, cols), labels)));
  // A label out of range gives a NaN loss, not an out-of-bounds read.
  std::vector<std::int32_t> bad = labels;
  bad[5] = cols;
  auto dbad = to_device(bad);
  cuda::softmax_xent(dz.data(), dbad.data(), rows, cols, nullptr, dloss.data(), nullptr, s);
  EXPECT_TRUE(std::isnan(to_host(dloss.data(), rows)[5]));

  // The local sum of a device allreduce, and the deterministic accumulator.
  const auto a = random_floats(100003, 5), c = random_floats(100003, 6);
  auto da = to_device(a), dc = to_device(c);
  cuda::add(da.data(), dc.data(), a.size(), s);
  const auto sum = to_host(da.data(), a.size());
  for (std::size_t i = 0; i < a.size(); i += 997) EXPECT_EQ(sum[i], a[i] + c[i]);
  cuda::DeviceBuffer<double> acc = test::zeros<double>(1);
  cuda::accumulate_sum(dc.data(), c.size(), 0.5, acc.data(), s);
  cuda::accumulate_sum(dc.data(), c.size(), 0.5, acc.data(), s);
  EXPECT_NEAR(to_host(acc.data(), 1)[0], std::accumulate(c.begin(), c.end(), 0.0), 1e-6 * c.size());
}

TEST(CudaData, GatherEqualsTheCpuGatherBitwise) {
  DTLAB_REQUIRE_GPU();
  const DataSplit data = make_synthetic({.train = 500, .test = 10, .features = 48, .seed = 3});
  cuda::Stream s;
  const cuda::DeviceDataset dd(data.train, s);
  const std::vector<std::int64_t> idx{499, 0, 17, 17, 250};
  std::vector<float> want(idx.size() * 48);
  std::vector<std::int32_t> want_y(idx.size());
  data.train.gather(idx, want, want_y);
  cuda::IndexUploader up(idx.size());
  cuda::DeviceBuffer<float> x(want.size());
  cuda::DeviceBuffer<std::int32_t> y(want_y.size());
  dd.gather(up.upload(idx, s), int(idx.size()), x.data(), y.data(), s);
  EXPECT_EQ(to_host(x.data(), x.size()), want);
  EXPECT_EQ(to_host(y.data(), y.size()), want_y);
}

// The whole MLP: loss and every gradient against the CPU MLP, from the same parameters.
TEST(CudaMlp, ForwardBackwardEqualsTheCpuMlp) {
  DTLAB_REQUIRE_GPU();
  for (const int batch : {1, 7, 64}) {
    SCOPED_TRACE("batch " + std::to_string(batch));
    Mlp cpu(MlpConfig{50, {40, 30}, 10});
    cpu.init(9);
    const auto x = random_floats(std::size_t(batch) * 50, 10 + batch);
    const auto y = random_labels(std::size_t(batch), 10, 20 + batch);
    cuda::Stream s;
    cuda::GpuMlp gpu(cpu, s);
    std::vector<int> order;
    auto dx = to_device(x);
    auto dy = to_device(y);
    gpu.forward_backward(dx.data(), dy.data(), batch, [&](int l) { order.push_back(l); });
    const float want = cpu.forward_backward(x, y);
    EXPECT_NEAR(gpu.last_loss(), want, kTol * std::max(1.0f, want));
    EXPECT_EQ(order, (std::vector<int>{2, 1, 0}));  // last layer first, as on the CPU
    std::vector<float> grads(cpu.num_params());
    gpu.download_grads(grads);
    test::expect_close(grads, cpu.grads(), kTol);

    // Accumulation adds, like the CPU's (PyTorch's .grad): a second batch on top of the first.
    gpu.forward_backward(dx.data(), dy.data(), batch, {}, /*accumulate=*/true);
    cpu.forward_backward(x, y, {}, true);
    gpu.download_grads(grads);
    test::expect_close(grads, cpu.grads(), kTol);

    // Evaluation: summed loss and correct count.
    cuda::DeviceBuffer<double> acc = test::zeros<double>(2);
    gpu.evaluate(dx.data(), dy.data(), batch, acc.data(), acc.data() + 1);
    const auto h = to_host(acc.data(), 2);
    const Mlp::Eval e = cpu.evaluate(x, y);
    EXPECT_NEAR(h[0], e.loss_sum, kTol * std::max(1.0, e.loss_sum));
    EXPECT_EQ(h[1], double(e.correct));
  }
}

TEST(CudaMlp, Tf32IsCloseButNotExact) {
  DTLAB_REQUIRE_GPU();
  Mlp cpu(MlpConfig{256, {256}, 10});
  cpu.init(2);
  const int batch = 128;
  const auto x = random_floats(std::size_t(batch) * 256, 3);
  const auto y = random_labels(batch, 10, 4);
  cuda::Stream s;
  cuda::GpuMlp gpu(cpu, s, /*tf32=*/true);
  auto dx = to_device(x);
  auto dy = to_device(y);
  gpu.forward_backward(dx.data(), dy.data(), batch);
  cpu.forward_backward(x, y);
  std::vector<float> grads(cpu.num_params());
  gpu.download_grads(grads);
  test::expect_close(grads, cpu.grads(), 2e-2);  // TF32 keeps 10 mantissa bits
  // ... and TF32 was really used: FP32 GEMMs agree with the CPU to about 1e-6 relative, rounding
  // the inputs to 10 bits moves the gradients by about 1e-3 of their size.
  cuda::GpuMlp fp32(cpu, s, /*tf32=*/false);
  fp32.forward_backward(dx.data(), dy.data(), batch);
  std::vector<float> exact(cpu.num_params());
  fp32.download_grads(exact);
  double largest = 0, moved = 0;
  for (std::size_t i = 0; i < exact.size(); ++i) {
    largest = std::max(largest, double(std::abs(exact[i])));
    moved = std::max(moved, double(std::abs(grads[i] - exact[i])));
  }
  EXPECT_GT(moved, 1e-4 * largest) << "the TF32 gradients equal the FP32 ones: TF32 was not used";
}

TEST(CudaOptim, EveryOptimizerEqualsTheCpuOne) {
  DTLAB_REQUIRE_GPU();
  const std::size_t n = 5000;
  for (const char* name : {"sgd", "sgd-nesterov", "adam", "adamw"}) {
    SCOPED_TRACE(name);
    OptimizerConfig c;
    c.name = std::string(name).substr(0, std::string(name).find('-'));
    c.nesterov = std::string(name) == "sgd-nesterov";
    c.weight_decay = 0.01;
    auto cpu = make_optimizer(c, n);
    cuda::GpuOptimizer gpu(c, n);
    auto p = random_floats(n, 1);
    auto dp = to_device(p);
    cuda::Stream s;
    for (int step = 0; step < 5; ++step) {
      const auto g = random_floats(n, 100 + step);
      auto dg = to_device(g);
      cpu->step(p, g, 0.01 * (step + 1), 0.5f);
      gpu.step(dp.data(), dg.data(), 0.01 * (step + 1), 0.5f, s);
    }
    EXPECT_EQ(gpu.steps(), 5);
    test::expect_close(to_host(dp.data(), n), p, 1e-5);
  }
  OptimizerConfig bad;
  bad.name = "lion";
  EXPECT_THROW(cuda::GpuOptimizer(bad, 10), Error);
}

}  // namespace
}  // namespace dtlab
