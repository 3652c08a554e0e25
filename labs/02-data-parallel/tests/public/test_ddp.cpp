// Lab 02 public tests. Each test runs every p from 1 to the world size (4 under the grader) by
// splitting the world; the oracle is one process training on the whole global batch.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <numeric>

#include "dtlab/error.hpp"
#include "dtlab/oplog.hpp"
#include "lab02_test.hpp"

namespace lab02 {
namespace {

using namespace lab02::test;

// ---- local_batch ----

TEST(LocalBatch, SplitsEveryGlobalBatchIntoContiguousEqualBlocks) {
  std::vector<std::int64_t> global(60);
  std::iota(global.begin(), global.end(), 1000);
  std::reverse(global.begin(), global.end());
  for (int p = 1; p <= 6; ++p) {
    std::vector<std::int64_t> joined;
    for (int r = 0; r < p; ++r) {
      const auto mine = local_batch(global, r, p);
      EXPECT_EQ(mine.size(), global.size() / p) << "rank " << r << " of " << p;
      joined.insert(joined.end(), mine.begin(), mine.end());
    }
    EXPECT_EQ(joined, global) << "the ranks' shards, in rank order, must be the global batch (p=" << p << ")";
  }
}

TEST(LocalBatch, UnevenSplitIsAnError) {
  std::vector<std::int64_t> global(10);
  EXPECT_EQ(local_batch(global, 1, 2).size(), 5u);
  EXPECT_THROW(local_batch(global, 0, 3), dtlab::Error) << "10 samples do not split over 3 ranks";
}

// ---- buckets ----

// The properties that define the buckets (lab02/ddp.hpp): they cover the layers from the last to
// the first without gaps, each holds whole layers, each but the last reaches bucket_bytes, and
// each would not have reached it without its earliest layer (it was closed as soon as it could).
void expect_valid_buckets(const std::vector<dtlab::LayerSlice>& layers, std::size_t bucket_bytes,
                          const std::vector<Bucket>& buckets) {
  ASSERT_FALSE(buckets.empty());
  EXPECT_EQ(buckets.front().last_layer, int(layers.size()) - 1) << "buckets[0] must hold the last layer";
  EXPECT_EQ(buckets.back().first_layer, 0);
  for (std::size_t b = 0; b < buckets.size(); ++b) {
    const Bucket& k = buckets[b];
    SCOPED_TRACE(testing::Message() << "bucket " << b << " of " << buckets.size() << ", bucket_bytes " << bucket_bytes);
    ASSERT_LE(k.first_layer, k.last_layer);
    EXPECT_EQ(k.begin, layers[k.first_layer].begin());
    EXPECT_EQ(k.end, layers[k.last_layer].end());
    if (b + 1 < buckets.size()) {
      EXPECT_EQ(buckets[b + 1].last_layer, k.first_layer - 1) << "no gap, reverse layer order";
      EXPECT_GE(k.bytes(), bucket_bytes) << "closed before reaching bucket_bytes";
    }
    if (k.first_layer < k.last_layer) {
      const std::size_t without_earliest = (k.end - layers[k.first_layer].end()) * sizeof(float);
      EXPECT_LT(without_earliest, bucket_bytes) << "should have been closed one layer earlier";
    }
  }
}

TEST(Buckets, DefaultModelGivesOneTwoOrThreeBuckets) {
  const dtlab::Mlp model(dtlab::MlpConfig{});  // 784-512-256-10
  const auto& L = model.layers();
  const auto one = make_buckets(L, std::size_t(25) << 20);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0], (Bucket{0, model.num_params(), 0, 2}));
  const auto two = make_buckets(L, 512 * 1024);  // layers 2 and 1 reach 535,592 bytes
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[0], (Bucket{L[1].begin(), L[2].end(), 1, 2}));
  EXPECT_EQ(two[1], (Bucket{0, L[0].end(), 0, 0}));
  const auto three = make_buckets(L, 0);
  ASSERT_EQ(three.size(), 3u);
  for (int b = 0; b < 3; ++b) EXPECT_EQ(three[b], (Bucket{L[2 - b].begin(), L[2 - b].end(), 2 - b, 2 - b}));
}

TEST(Buckets, DeepModelsAtManySizes) {
  const dtlab::Mlp model(dtlab::MlpConfig{.inputs = 100, .hidden = {300, 7, 250, 64, 64, 1, 90}, .classes = 10});
  for (std::size_t bytes : {std::size_t(0), std::size_t(1), std::size_t(4000), std::size_t(30000), std::size_t(121204),
                            std::size_t(200000), std::size_t(1) << 30})
    expect_valid_buckets(model.layers(), bytes, make_buckets(model.layers(), bytes));
}

// ---- DDP ----

std::size_t expected_buckets(std::size_t bytes) {  // for RunConfig's 64-48-32-24-10 model
  return bytes == 0 ? 4 : bytes <= 8192 ? 2 : 1;
}

TEST(Ddp, MatchesOneProcessOnTheGlobalBatchForOneTwoAndManyBuckets) {
  const RunConfig s;
  const auto expect = single_process(s);
  for_each_size([&](const Comm& comm) {
    for (const std::size_t bytes : {std::size_t(1) << 30, std::size_t(8192), std::size_t(0)}) {
      SCOPED_TRACE(testing::Message() << "bucket_bytes " << bytes);
      DistributedDataParallel ddp({.bucket_bytes = bytes});
      const auto got = train(comm, ddp, s);
      EXPECT_EQ(ddp.buckets().size(), expected_buckets(bytes));
      EXPECT_LE(relative_difference(got, expect), 1e-5) << "after " << s.steps << " steps";
      EXPECT_TRUE(same_on_every_rank(comm, got)) << "the replicas differ";
    }
  });
}

TEST(Ddp, EveryReplicaStartsFromRankZerosParameters) {
  RunConfig s;
  const auto expect = single_process(s);
  s.steps = 0;
  const auto init = single_process(s);
  for_each_size([&](const Comm& comm) {
    const auto scramble = [&](dtlab::Mlp& m) { m.init(s.seed + 1000 * std::uint64_t(comm.rank())); };
    DistributedDataParallel ddp;
    const auto got0 = train(comm, ddp, s, false, scramble);
    EXPECT_EQ(got0, init) << "after setup, every rank must hold rank 0's initial parameters";
    RunConfig run = s;
    run.steps = 6;
    DistributedDataParallel ddp2;
    EXPECT_LE(relative_difference(train(comm, ddp2, run, false, scramble), expect), 1e-5);
  });
}

TEST(Ddp, AccumulatingMicroBatchesEqualsTheWholeBatch) {
  const RunConfig s;
  const auto expect = single_process(s);
  for_each_size([&](const Comm& comm) {
    for (const int micro : {2, 4}) {
      SCOPED_TRACE(testing::Message() << micro << " micro-batches");
      RunConfig m = s;
      m.micro_batches = micro;
      std::atomic<int> calls{0};
      DistributedDataParallel ddp({.bucket_bytes = 0, .allreduce = [&](const Comm& c, std::span<float> g) {
                                     if (g.size() > 1) ++calls;  // a bucket, not a 1-element count
                                     library_allreduce(c, g);
                                   }});
      const auto got = train(comm, ddp, m);
      EXPECT_LE(relative_difference(got, expect), 1e-5);
      EXPECT_TRUE(same_on_every_rank(comm, got));
      EXPECT_EQ(calls.load(), int(ddp.buckets().size()) * s.steps)
          << "only the last micro-batch of a step may communicate, once per bucket";
    }
  });
}

TEST(Ddp, UsesTheGivenAllreduceOncePerBucketInBucketOrder) {
  const RunConfig s;
  for_each_size([&](const Comm& comm) {
    std::mutex mu;
    std::vector<std::size_t> sizes;
    DistributedDataParallel ddp({.bucket_bytes = 8192, .allreduce = [&](const Comm& c, std::span<float> g) {
                                   if (g.size() > 1) {
                                     std::lock_guard lock(mu);
                                     sizes.push_back(g.size());
                                   }
                                   library_allreduce(c, g);
                                 }});
    train(comm, ddp, s);
    std::vector<std::size_t> expect;
    for (int step = 0; step < s.steps; ++step)
      for (const Bucket& b : ddp.buckets()) expect.push_back(b.end - b.begin);
    EXPECT_EQ(sizes, expect);
  });
}

// Overlap, seen in the op log: bucket allreduces are handed to the communication worker while
// backward is still computing earlier layers. With overlap off they all start after backward.
TEST(Ddp, BucketAllreducesStartDuringBackward) {
  RunConfig s;
  s.steps = 1;
  for_each_size([&](const Comm& comm) {
    for (const bool overlap : {true, false}) {
      SCOPED_TRACE(overlap ? "overlap on" : "overlap off");
      auto& log = dtlab::OpLog::instance();
      DistributedDataParallel ddp({.bucket_bytes = 0, .overlap = overlap});
      dtlab::Mlp model(s.model);
      model.init(s.seed);
      auto opt = optimizer(model);
      ddp.setup(comm, model);
      std::vector<float> x(std::size_t(8) * s.model.inputs, 0.5f);
      std::vector<std::int32_t> y(8, 3);
      comm.barrier();
      log.clear();
      ddp.backward_begins(comm, model, 0, 1);
      model.forward_backward(x, y, [&](int l) { ddp.grad_ready(comm, model, l); });
      ddp.step(comm, model, *opt, {});
      ddp.finish(comm, model);
      const auto& ops = log.data().ops;
      const auto label = log.intern("backward");
      std::size_t first = ops.size(), last = 0;
      for (std::size_t i = 0; i < ops.size(); ++i)
        if (ops[i].lane == 0 && ops[i].kind == dtlab::OpKind::compute && ops[i].label == label) {
          first = std::min(first, i);
          last = i;
        }
      int during = 0;
      for (std::size_t i = first; i < last; ++i) during += ops[i].kind == dtlab::OpKind::job_post;
      if (overlap)
        EXPECT_GE(during, int(ddp.buckets().size()) - 1)
            << "every bucket but the last must be handed to the CommWorker before backward ends";
      else
        EXPECT_EQ(during, 0) << "with overlap off, no bucket may start during backward";
    }
  });
}

TEST(Ddp, ARankWithFewerBatchesGetsAClearErrorNotAHang) {
  const Comm world = Comm::world();
  if (world.size() < 2) GTEST_SKIP() << "needs two ranks";
  for (int p = 2; p <= world.size(); ++p) {
    const Comm comm = world.split(world.rank() < p ? 0 : -1, world.rank());
    if (comm.valid()) {
      SCOPED_TRACE(testing::Message() << "p=" << p << " rank=" << comm.rank());
      RunConfig s;
      s.steps = comm.rank() == p - 1 ? 2 : 3;  // the last rank runs out of batches first
      DistributedDataParallel ddp;
      try {
        train(comm, ddp, s);
        ADD_FAILURE() << "no error: rank " << p - 1 << " stopped after 2 steps while the others ran 3";
      } catch (const dtlab::NotImplemented& e) {
        ADD_FAILURE() << e.what();
      } catch (const dtlab::Error& e) {
        EXPECT_NE(std::string(e.what()).find("batch"), std::string::npos)
            << "the error should say that ranks saw different numbers of batches: " << e.what();
      }
    }
    world.barrier();
  }
}

}  // namespace
}  // namespace lab02
