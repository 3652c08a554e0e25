// Lab 01 public tests: every function against a serial computation, for every p from 1 to the
// world size (run with 8 ranks by the grader), and the traffic each algorithm may send.
#include "lab01_test.hpp"

namespace lab01::test {
namespace {

template <class T>
void check_allreduce(AllreduceFn<T> fn) {
  for_each_size([&](const Comm& c) {
    for (const std::size_t n : sizes(c.size())) {
      SCOPED_TRACE(testing::Message() << "n=" << n);
      auto data = input<T>(c.rank(), n);
      fn(c, std::span<T>(data));
      EXPECT_TRUE(is_sum<T>(data, c.size()));
      EXPECT_TRUE(identical_on_all_ranks<T>(c, data));
    }
  });
}

TEST(Broadcast, EveryRootEverySize) {
  for_each_size([](const Comm& c) {
    for (int root = 0; root < c.size(); ++root)
      for (const std::size_t n : sizes(c.size())) {
        SCOPED_TRACE(testing::Message() << "root=" << root << " n=" << n);
        auto data = input<float>(c.rank(), n);
        broadcast(c, std::span<float>(data), root);
        EXPECT_EQ(data, input<float>(root, n));
      }
  });
}

TEST(Broadcast, EveryNonRootReceivesExactlyOneCopy) {
  for_each_size([](const Comm& c) {
    std::vector<std::int32_t> data(1000);
    dtlab::OpLog::instance().clear();
    broadcast(c, std::span<std::int32_t>(data), 0);
    // Across all ranks, p - 1 messages of n elements: a tree, not a flood.
    std::int64_t received[2] = {std::int64_t(dtlab::OpLog::instance().counters().messages_received),
                                std::int64_t(dtlab::OpLog::instance().counters().bytes_received)};
    dtlab::baseline::allreduce(c, std::span<std::int64_t>(received));
    EXPECT_EQ(received[0], c.size() - 1);
    EXPECT_EQ(received[1], std::int64_t(c.size() - 1) * 4000);
  });
}

TEST(Reduce, EveryRootEverySize) {
  for_each_size([](const Comm& c) {
    for (int root = 0; root < c.size(); ++root)
      for (const std::size_t n : sizes(c.size())) {
        SCOPED_TRACE(testing::Message() << "root=" << root << " n=" << n);
        auto data = input<std::int32_t>(c.rank(), n);
        reduce(c, std::span<std::int32_t>(data), root);
        if (c.rank() == root) {
          EXPECT_TRUE(is_sum<std::int32_t>(data, c.size()));
        }
      }
  });
}

TEST(AllreduceNaive, EqualsSerialSum) {
  check_allreduce<float>(allreduce_naive<float>);
  check_allreduce<std::int32_t>(allreduce_naive<std::int32_t>);
}

TEST(AllreduceRecursiveDoubling, EqualsSerialSum) {
  check_allreduce<float>(allreduce_recursive_doubling<float>);
  check_allreduce<std::int32_t>(allreduce_recursive_doubling<std::int32_t>);
}

TEST(AllreduceRecursiveDoubling, ExchangesLog2pMessagesWhenPIsAPowerOfTwo) {
  for_each_size([](const Comm& c) {
    const int p = c.size();
    if (p & (p - 1)) return;
    std::vector<float> data(512);
    const Traffic t = traffic_of([&] { allreduce_recursive_doubling(c, std::span<float>(data)); });
    const int rounds = int(std::log2(p));
    EXPECT_EQ(t.messages, std::uint64_t(rounds));
    EXPECT_EQ(t.bytes, std::uint64_t(rounds) * 512 * 4);
  });
}

TEST(ReduceScatter, EachRankOwnsTheSumOfItsBlock) {
  for_each_size([](const Comm& c) {
    for (const std::size_t n : sizes(c.size())) {
      SCOPED_TRACE(testing::Message() << "n=" << n);
      auto data = input<float>(c.rank(), n);
      reduce_scatter(c, std::span<float>(data));
      const auto b = block(n, c.size(), c.rank());
      EXPECT_TRUE(is_sum<float>(data, c.size(), std::size_t(b.first), std::size_t(b.count)));
    }
  });
}

TEST(Allgather, EveryRankEndsWithEveryBlock) {
  for_each_size([](const Comm& c) {
    for (const std::size_t n : sizes(c.size())) {
      SCOPED_TRACE(testing::Message() << "n=" << n);
      // Rank r brings block r of the final vector; elsewhere it holds junk that must be replaced.
      std::vector<std::int32_t> want(n), data(n, -777);
      for (std::size_t i = 0; i < n; ++i) want[i] = std::int32_t(i * 3 + 1);
      const auto mine = block(n, c.size(), c.rank());
      for (std::int64_t i = mine.first; i < mine.first + mine.count; ++i) data[i] = want[i];
      allgather(c, std::span<std::int32_t>(data));
      EXPECT_EQ(data, want);
    }
  });
}

TEST(AllreduceRing, EqualsSerialSum) {
  check_allreduce<float>(allreduce_ring<float>);
  check_allreduce<std::int32_t>(allreduce_ring<std::int32_t>);
}

TEST(AllreduceRing, SendsTwoChunksPerStep) {
  // 2(p-1) messages, each one block of about n/p elements: 2(p-1)/p * n elements per rank.
  for_each_size([](const Comm& c) {
    const int p = c.size();
    const std::size_t n = 1000 * std::size_t(p) + 3;
    std::vector<float> data(n);
    const Traffic t = traffic_of([&] { allreduce_ring(c, std::span<float>(data)); });
    EXPECT_EQ(t.messages, std::uint64_t(2 * (p - 1)));
    const double elements = double(t.bytes) / sizeof(float);
    EXPECT_NEAR(elements, 2.0 * (p - 1) / p * double(n), 2.0 * (p - 1));
  });
}

TEST(AllreduceRabenseifner, EqualsSerialSum) {
  check_allreduce<float>(allreduce_rabenseifner<float>);
  check_allreduce<std::int32_t>(allreduce_rabenseifner<std::int32_t>);
}

TEST(AllreduceRabenseifner, SendsAboutTwiceNOverPWhenPIsAPowerOfTwo) {
  for_each_size([](const Comm& c) {
    const int p = c.size();
    if (p & (p - 1)) return;
    const std::size_t n = 1024 * std::size_t(p);
    std::vector<double> data(n);
    const Traffic t = traffic_of([&] { allreduce_rabenseifner(c, std::span<double>(data)); });
    EXPECT_EQ(t.messages, std::uint64_t(2 * std::log2(p)));
    EXPECT_EQ(t.bytes, std::uint64_t(2 * (p - 1) * 1024 * 8));
  });
}

TEST(Allreduce, EqualsSerialSumWhateverItChooses) {
  check_allreduce<float>(allreduce<float>);
  check_allreduce<std::int32_t>(allreduce<std::int32_t>);
}

}  // namespace
}  // namespace lab01::test
