// Lab 02 hidden tests: other models, optimizers, bucket boundaries, micro-batch counts and runs
// long enough for a small mistake to grow.
#include <gtest/gtest.h>

#include "dtlab/error.hpp"
#include "lab02_test.hpp"

namespace lab02 {
namespace {

using namespace lab02::test;

TEST(LocalBatch, EveryRankAndSize) {
  for (int p = 1; p <= 8; ++p) {
    std::vector<std::int64_t> global(std::size_t(p) * 7);
    for (std::size_t i = 0; i < global.size(); ++i) global[i] = std::int64_t((i * 37) % 101);
    for (int r = 0; r < p; ++r) {
      const auto mine = local_batch(global, r, p);
      ASSERT_EQ(mine.size(), 7u);
      EXPECT_EQ(mine.data(), global.data() + 7 * r) << "rank " << r << " of " << p;
    }
  }
  std::vector<std::int64_t> seven(7);
  EXPECT_THROW(local_batch(seven, 0, 2), dtlab::Error);
  EXPECT_THROW(local_batch(seven, 3, 2), dtlab::Error);
}

TEST(Buckets, BoundariesAreInclusive) {
  const dtlab::Mlp model(dtlab::MlpConfig{.inputs = 10, .hidden = {20, 30}, .classes = 5});
  const auto& L = model.layers();
  const std::size_t last = (L[2].end() - L[2].begin()) * sizeof(float);
  // Exactly the last layer's size: it fills a bucket on its own, and so does each larger layer.
  const auto b = make_buckets(L, last);
  ASSERT_EQ(b.size(), 3u);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(b[k], (Bucket{L[2 - k].begin(), L[2 - k].end(), 2 - k, 2 - k}));
  // One byte more: the last two layers share a bucket.
  const auto c = make_buckets(L, last + 1);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], (Bucket{L[1].begin(), L[2].end(), 1, 2}));
  EXPECT_EQ(c[1], (Bucket{0, L[0].end(), 0, 0}));
  // A single-layer model.
  const dtlab::Mlp linear(dtlab::MlpConfig{.inputs = 10, .hidden = {}, .classes = 3});
  for (std::size_t bytes : {std::size_t(0), std::size_t(1) << 20})
    EXPECT_EQ(make_buckets(linear.layers(), bytes), (std::vector<Bucket>{{0, linear.num_params(), 0, 0}}));
}

TEST(Ddp, DeeperModelSmallerBatchLongerRun) {
  RunConfig s;
  s.model = {.inputs = 64, .hidden = {40, 40, 30, 30, 20}, .classes = 10};
  s.steps = 12;
  s.lr = 0.02;
  s.global_batch = 24;
  const auto expect = single_process(s);
  for_each_size([&](const Comm& comm) {
    for (const std::size_t bytes : {std::size_t(0), std::size_t(5000), std::size_t(1) << 30}) {
      DistributedDataParallel ddp({.bucket_bytes = bytes});
      const auto got = train(comm, ddp, s);
      EXPECT_LE(relative_difference(got, expect), 1e-5) << "bucket_bytes " << bytes;
      EXPECT_TRUE(same_on_every_rank(comm, got)) << "bucket_bytes " << bytes;
    }
  });
}

TEST(Ddp, OverlapOffGivesTheSameResult) {
  const RunConfig s;
  const auto expect = single_process(s);
  for_each_size([&](const Comm& comm) {
    DistributedDataParallel ddp({.bucket_bytes = 0, .overlap = false});
    const auto got = train(comm, ddp, s);
    EXPECT_LE(relative_difference(got, expect), 1e-5);
    EXPECT_TRUE(same_on_every_rank(comm, got));
  });
}

TEST(Ddp, ThreeMicroBatchesAndRankZeroWins) {
  RunConfig s;
  s.micro_batches = 3;  // 48 / p / 3 samples per micro-batch for p = 1, 2, 4; p = 3 gives 16 / 3: skipped
  const auto expect = single_process(s);
  for_each_size([&](const Comm& comm) {
    if ((s.global_batch / comm.size()) % s.micro_batches != 0) return;
    DistributedDataParallel ddp({.bucket_bytes = 8192});
    const auto got = train(comm, ddp, s, false, [&](dtlab::Mlp& m) {
      if (comm.rank() != 0) m.init(77 + std::uint64_t(comm.rank()));
    });
    EXPECT_LE(relative_difference(got, expect), 1e-5);
    EXPECT_TRUE(same_on_every_rank(comm, got));
  });
}

TEST(Ddp, WorksWithAHandWrittenAllreduce) {
  // An allreduce built on point-to-point messages (gather to rank 0, then send back), as a
  // student's Lab 01 allreduce would be: the strategy must call it through the options.
  const RunConfig s;
  const auto expect = single_process(s);
  for_each_size([&](const Comm& comm) {
    DistributedDataParallel ddp({.bucket_bytes = 8192, .allreduce = [](const Comm& c, std::span<float> g) {
                                   if (c.rank() == 0) {
                                     std::vector<float> in(g.size());
                                     for (int r = 1; r < c.size(); ++r) {
                                       c.recv(std::span<float>(in), r);
                                       for (std::size_t i = 0; i < g.size(); ++i) g[i] += in[i];
                                     }
                                     for (int r = 1; r < c.size(); ++r) c.send(std::span<const float>(g), r);
                                   } else {
                                     c.send(std::span<const float>(g), 0);
                                     c.recv(g, 0);
                                   }
                                 }});
    const auto got = train(comm, ddp, s);
    EXPECT_LE(relative_difference(got, expect), 1e-5);
    EXPECT_TRUE(same_on_every_rank(comm, got));
  });
}

}  // namespace
}  // namespace lab02
