// Lab 01 hidden tests: what the public tests do not show. Every element type, large buffers,
// communicators that are not the first p ranks in order, back-to-back calls, values beyond 32
// bits, and non-integer data that must still come out bitwise equal on every rank.
#include <random>

#include "lab01_test.hpp"

namespace lab01::test {
namespace {

// Communicators that are not a prefix of world in rank order: the odd ranks, the even ranks in
// reverse order, and all ranks reversed. An implementation that talks to Comm::world() or assumes
// comm rank == world rank fails here.
void for_each_shuffled_comm(const std::function<void(const Comm&)>& body) {
  const Comm world = Comm::world();
  const int r = world.rank();
  const Comm odd = world.split(r % 2 == 1 ? 0 : -1, r);
  if (odd.valid()) guarded(body, odd);
  world.barrier();
  const Comm even_reversed = world.split(r % 2 == 0 ? 0 : -1, -r);
  if (even_reversed.valid()) guarded(body, even_reversed);
  world.barrier();
  guarded(body, world.split(0, -r));
  world.barrier();
}

template <class T>
void check_allreduce_all_types_large(void (*fn)(const Comm&, std::span<T>)) {
  for_each_size([&](const Comm& c) {
    for (const std::size_t n : sizes(c.size(), /*large=*/true)) {
      SCOPED_TRACE(testing::Message() << "n=" << n);
      auto data = input<T>(c.rank(), n);
      fn(c, std::span<T>(data));
      EXPECT_TRUE(is_sum<T>(data, c.size()));
    }
  });
  for_each_shuffled_comm([&](const Comm& c) {
    SCOPED_TRACE(testing::Message() << "shuffled communicator of " << c.size());
    auto data = input<T>(c.rank(), 5003);
    fn(c, std::span<T>(data));
    EXPECT_TRUE(is_sum<T>(data, c.size()));
  });
}

// Random non-integer floats: sums are inexact, but every rank must hold the same bits and be
// close to the serial sum.
void check_random_floats(void (*fn)(const Comm&, std::span<float>)) {
  for_each_size([&](const Comm& c) {
    const std::size_t n = 4099;
    auto make = [n](int r) {
      std::mt19937 gen(1234 + r);
      std::uniform_real_distribution<float> u(-1.0f, 1.0f);
      std::vector<float> v(n);
      for (auto& x : v) x = u(gen);
      return v;
    };
    auto data = make(c.rank());
    fn(c, std::span<float>(data));
    EXPECT_TRUE(identical_on_all_ranks<float>(c, data));
    double worst = 0;
    std::vector<std::vector<float>> all;
    for (int r = 0; r < c.size(); ++r) all.push_back(make(r));
    for (std::size_t i = 0; i < n; ++i) {
      double s = 0;
      for (const auto& v : all) s += v[i];
      worst = std::max(worst, std::abs(s - data[i]));
    }
    EXPECT_LT(worst, 1e-5 * c.size());
  });
}

template <class F>
void every_type(F&& f) {
  f(float{});
  f(double{});
  f(std::int32_t{});
  f(std::int64_t{});
}

#define LAB01_HIDDEN_ALLREDUCE(Suite, fn)                                                   \
  TEST(Suite, HiddenEveryTypeLargeAndShuffledComms) {                                        \
    every_type([](auto t) {                                                                   \
      using T = decltype(t);                                                                  \
      check_allreduce_all_types_large<T>(fn<T>);                                              \
    });                                                                                       \
  }                                                                                           \
  TEST(Suite, HiddenRandomFloatsBitwiseEqualOnAllRanks) { check_random_floats(fn<float>); }

LAB01_HIDDEN_ALLREDUCE(AllreduceNaive, allreduce_naive)
LAB01_HIDDEN_ALLREDUCE(AllreduceRecursiveDoubling, allreduce_recursive_doubling)
LAB01_HIDDEN_ALLREDUCE(AllreduceRing, allreduce_ring)
LAB01_HIDDEN_ALLREDUCE(AllreduceRabenseifner, allreduce_rabenseifner)
LAB01_HIDDEN_ALLREDUCE(Allreduce, allreduce)

TEST(Allreduce, HiddenValuesBeyond32Bits) {
  for_each_size([](const Comm& c) {
    std::vector<std::int64_t> data(777, (std::int64_t(1) << 40) + c.rank());
    allreduce(c, std::span<std::int64_t>(data));
    const std::int64_t want = c.size() * (std::int64_t(1) << 40) + c.size() * (c.size() - 1) / 2;
    for (auto v : data) ASSERT_EQ(v, want);
  });
}

TEST(Allreduce, HiddenBackToBackCallsDoNotMixUp) {
  // Different algorithms and sizes in a row, without a barrier between them.
  for_each_size([](const Comm& c) {
    auto a = input<float>(c.rank(), 3001);
    auto b = input<float>(c.rank(), 17);
    auto d = input<float>(c.rank(), 9000);
    allreduce_ring(c, std::span<float>(a));
    allreduce_recursive_doubling(c, std::span<float>(b));
    allreduce_rabenseifner(c, std::span<float>(d));
    allreduce(c, std::span<float>(b));  // b again: now p times the sum
    EXPECT_TRUE(is_sum<float>(a, c.size()));
    EXPECT_TRUE(is_sum<float>(d, c.size()));
    for (std::size_t i = 0; i < b.size(); ++i) EXPECT_EQ(b[i], c.size() * expected_sum<float>(c.size(), i));
  });
}

TEST(Broadcast, HiddenEveryTypeShuffledCommsLarge) {
  every_type([](auto t) {
    using T = decltype(t);
    for_each_shuffled_comm([](const Comm& c) {
      for (int root = 0; root < c.size(); ++root) {
        auto data = input<T>(c.rank(), 20011);
        broadcast(c, std::span<T>(data), root);
        EXPECT_EQ(data, input<T>(root, 20011)) << "root " << root;
      }
    });
  });
}

TEST(Reduce, HiddenEveryTypeShuffledCommsLarge) {
  every_type([](auto t) {
    using T = decltype(t);
    for_each_shuffled_comm([](const Comm& c) {
      for (int root = 0; root < c.size(); ++root) {
        auto data = input<T>(c.rank(), 20011);
        reduce(c, std::span<T>(data), root);
        if (c.rank() == root) {
          EXPECT_TRUE(is_sum<T>(data, c.size())) << "root " << root;
        }
      }
    });
  });
}

TEST(ReduceScatter, HiddenEveryTypeLargeAndShuffledComms) {
  every_type([](auto t) {
    using T = decltype(t);
    auto check = [](const Comm& c, std::size_t n) {
      auto data = input<T>(c.rank(), n);
      reduce_scatter(c, std::span<T>(data));
      const auto b = block(n, c.size(), c.rank());
      EXPECT_TRUE(is_sum<T>(data, c.size(), std::size_t(b.first), std::size_t(b.count))) << "n=" << n;
    };
    for_each_size([&](const Comm& c) {
      for (const std::size_t n : sizes(c.size(), true)) check(c, n);
    });
    for_each_shuffled_comm([&](const Comm& c) { check(c, 7001); });
  });
}

TEST(Allgather, HiddenEveryTypeLargeAndShuffledComms) {
  every_type([](auto t) {
    using T = decltype(t);
    auto check = [](const Comm& c, std::size_t n) {
      std::vector<T> want(n), data(n, T(-1));
      for (std::size_t i = 0; i < n; ++i) want[i] = T(std::int64_t(i % 1000) - 300);
      const auto mine = block(n, c.size(), c.rank());
      for (std::int64_t i = mine.first; i < mine.first + mine.count; ++i) data[i] = want[i];
      allgather(c, std::span<T>(data));
      EXPECT_EQ(data, want) << "n=" << n;
    };
    for_each_size([&](const Comm& c) {
      for (const std::size_t n : sizes(c.size(), true)) check(c, n);
    });
    for_each_shuffled_comm([&](const Comm& c) { check(c, 7001); });
  });
}

}  // namespace
}  // namespace lab01::test
