// IDX files, Fashion-MNIST, the synthetic set and the sampler's sharding.
#include <gtest/gtest.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <set>

#include "dtlab/data.hpp"
#include "dtlab/error.hpp"
#include "test_util.hpp"

namespace dtlab {
namespace {

namespace fs = std::filesystem;

void put_be32(std::string& s, std::uint32_t v) {
  for (int shift : {24, 16, 8, 0}) s.push_back(char((v >> shift) & 0xff));
}

std::string idx_images(std::uint32_t n, std::uint32_t rows, std::uint32_t cols, std::uint32_t magic = 0x803) {
  std::string s;
  put_be32(s, magic);
  put_be32(s, n);
  put_be32(s, rows);
  put_be32(s, cols);
  for (std::uint32_t i = 0; i < n * rows * cols; ++i) s.push_back(char(i * 7 % 256));
  return s;
}

std::string idx_labels(std::uint32_t n, std::uint32_t magic = 0x801) {
  std::string s;
  put_be32(s, magic);
  put_be32(s, n);
  for (std::uint32_t i = 0; i < n; ++i) s.push_back(char(i % 10));
  return s;
}

void write_gz(const fs::path& p, const std::string& data) {
  gzFile f = gzopen(p.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  gzwrite(f, data.data(), unsigned(data.size()));
  gzclose(f);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Four small files named as Fashion-MNIST's.
void write_fake_fashion(const fs::path& dir, std::uint32_t train = 20, std::uint32_t test = 10) {
  write_gz(dir / "train-images-idx3-ubyte.gz", idx_images(train, 4, 3));
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_labels(train));
  write_gz(dir / "t10k-images-idx3-ubyte.gz", idx_images(test, 4, 3));
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_labels(test));
}

TEST(Idx, ReadsGzipAndPlainFiles) {
  test::TempDir dir;
  write_gz(dir / "a.gz", idx_images(5, 2, 3));
  std::ofstream(dir / "plain", std::ios::binary) << idx_images(5, 2, 3);
  for (const char* name : {"a.gz", "plain"}) {
    const IdxImages img = read_idx_images(dir / name);
    EXPECT_EQ(img.count, 5);
    EXPECT_EQ(img.rows, 2);
    EXPECT_EQ(img.cols, 3);
    ASSERT_EQ(img.pixels.size(), 30u);
    EXPECT_EQ(img.pixels[29], std::uint8_t(29 * 7 % 256));
  }
  write_gz(dir / "l.gz", idx_labels(12));
  EXPECT_EQ(read_idx_labels(dir / "l.gz").size(), 12u);
}

TEST(Idx, ErrorsNameTheFileAndTheProblem) {
  test::TempDir dir;
  const fs::path missing = dir / "nope" / "train-images-idx3-ubyte.gz";
  auto msg = error_of([&] { read_idx_images(missing); });
  EXPECT_NE(msg.find(missing.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("dataset-fashion-mnist"), std::string::npos) << msg;

  write_gz(dir / "labels-as-images.gz", idx_labels(3));
  msg = error_of([&] { read_idx_images(dir / "labels-as-images.gz"); });
  EXPECT_NE(msg.find("magic number 0x00000801, expected 0x00000803"), std::string::npos) << msg;

  std::string cut = idx_images(10, 4, 4);
  cut.resize(cut.size() - 5);
  write_gz(dir / "cut.gz", cut);
  msg = error_of([&] { read_idx_images(dir / "cut.gz"); });
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;

  write_gz(dir / "long.gz", idx_labels(4) + "xx");
  msg = error_of([&] { read_idx_labels(dir / "long.gz"); });
  EXPECT_NE(msg.find("after the last item"), std::string::npos) << msg;

  // A gzip stream cut in the middle.
  write_gz(dir / "whole.gz", idx_images(50, 8, 8));
  std::string bytes;
  {
    std::ifstream in(dir / "whole.gz", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::ofstream(dir / "broken.gz", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  msg = error_of([&] { read_idx_images(dir / "broken.gz"); });
  EXPECT_NE(msg.find("broken.gz"), std::string::npos) << msg;
}

TEST(FashionMnistLoader, ChecksThatImagesAndLabelsMatch) {
  test::TempDir dir;
  write_fake_fashion(dir.path());
  const DataSplit s = load_fashion_mnist(dir.path());
  EXPECT_EQ(s.train.size, 20);
  EXPECT_EQ(s.test.size, 10);
  EXPECT_EQ(s.train.features, 12);
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", idx_labels(9));
  const auto msg = error_of([&] { load_fashion_mnist(dir.path()); });
  EXPECT_NE(msg.find("has 10 images but"), std::string::npos) << msg;
  EXPECT_NE(msg.find("t10k-labels-idx1-ubyte.gz has 9 labels"), std::string::npos) << msg;

  std::string bad = idx_labels(10);
  bad.back() = char(10);  // label 10 of 10 classes
  write_gz(dir / "t10k-labels-idx1-ubyte.gz", bad);
  EXPECT_NE(error_of([&] { load_fashion_mnist(dir.path()); }).find("outside 0..9"), std::string::npos);
}

TEST(FashionMnist, RealDatasetHasItsKnownShapeAndStatistics) {
  const fs::path dir = default_fashion_mnist_dir();
  if (!fs::exists(dir / "train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Fashion-MNIST is not installed at " << dir << " (./dtlab setup installs it)";
  const DataSplit s = load_fashion_mnist(dir);
  EXPECT_EQ(s.train.size, 60000);
  EXPECT_EQ(s.test.size, 10000);
  EXPECT_EQ(s.train.features, 784);
  std::vector<int> per_class(10);
  for (auto y : s.train.y) ++per_class[y];
  for (int c : per_class) EXPECT_EQ(c, 6000);  // the set is balanced
  EXPECT_NEAR(s.train.mean, 0.2860, 5e-4);     // published pixel statistics of Fashion-MNIST
  EXPECT_NEAR(s.train.stddev, 0.3530, 5e-4);
}

TEST(Dataset, GatherNormalises) {
  test::TempDir dir;
  write_fake_fashion(dir.path());
  const DataSplit s = load_fashion_mnist(dir.path());
  std::vector<float> x(2 * 12);
  std::vector<std::int32_t> y(2);
  const std::vector<std::int64_t> idx{3, 0};
  s.train.gather(idx, x, y);
  EXPECT_EQ(y[0], 3);
  EXPECT_EQ(y[1], 0);
  for (int j = 0; j < 12; ++j) {
    const float raw = s.train.x[3 * 12 + j];
    EXPECT_NEAR(x[j], (raw / 255.0f - s.train.mean) / s.train.stddev, 1e-5);
  }
  const std::vector<std::int64_t> bad{20};
  EXPECT_THROW(s.train.gather(bad, std::span(x).first(12), std::span(y).first(1)), Error);
}

TEST(Synthetic, SeededAndLearnableShape) {
  const SyntheticConfig c{.train = 500, .test = 100, .features = 16, .classes = 5, .seed = 3};
  const DataSplit a = make_synthetic(c), b = make_synthetic(c);
  SyntheticConfig other = c;
  other.seed = 4;
  const DataSplit d = make_synthetic(other);
  EXPECT_EQ(a.train.x, b.train.x);
  EXPECT_EQ(a.train.y, b.train.y);
  EXPECT_NE(a.train.x, d.train.x);
  EXPECT_EQ(a.train.size, 500);
  std::set<int> classes(a.train.y.begin(), a.train.y.end());
  EXPECT_EQ(classes, (std::set<int>{0, 1, 2, 3, 4}));
}

// ---- sharding ----

// The property every sampler must have: for each global batch, the ranks' indices are disjoint,
// equally many, and together exactly the batch one process with the global batch would take.
testing::AssertionResult shards_partition_global_batches(
    std::int64_t n, std::int64_t batch, int p, std::uint64_t seed, int epochs,
    const std::function<std::vector<std::int64_t>(DistributedSampler&, int rank, std::int64_t e, std::int64_t b)>& take) {
  DistributedSampler single(n, batch, 0, 1, seed);
  std::vector<DistributedSampler> ranks;
  for (int r = 0; r < p; ++r) ranks.emplace_back(n, batch, r, p, seed);
  for (std::int64_t e = 0; e < epochs; ++e)
    for (std::int64_t b = 0; b < single.batches_per_epoch(); ++b) {
      const auto want = single.indices(e, b);
      std::multiset<std::int64_t> expected(want.begin(), want.end()), got;
      for (int r = 0; r < p; ++r) {
        const auto mine = take(ranks[r], r, e, b);
        if (std::int64_t(mine.size()) != batch / p)
          return testing::AssertionFailure() << "rank " << r << " got " << mine.size() << " samples";
        got.insert(mine.begin(), mine.end());
      }
      if (got != expected)
        return testing::AssertionFailure() << "epoch " << e << " batch " << b
                                           << ": the ranks' shards are not the global batch";
    }
  return testing::AssertionSuccess();
}

std::vector<std::int64_t> actual(DistributedSampler& s, int, std::int64_t e, std::int64_t b) {
  const auto v = s.indices(e, b);
  return {v.begin(), v.end()};
}

TEST(DistributedSampler, ShardsAreTheGlobalBatch) {
  for (int p = 1; p <= 8; ++p)
    EXPECT_TRUE(shards_partition_global_batches(1000, 16 * p, p, 42, 3, actual)) << "p=" << p;
}

TEST(DistributedSampler, PropertyCatchesWrongShards) {
  // Every rank takes the first slice: duplicates, and part of the batch never trained on.
  auto all_first = [](DistributedSampler&, int, std::int64_t e, std::int64_t b) {
    DistributedSampler zero(1000, 40, 0, 4, 42);
    return actual(zero, 0, e, b);
  };
  EXPECT_FALSE(shards_partition_global_batches(1000, 40, 4, 42, 1, all_first));
  // Each rank shuffles with its own seed: batches drawn from different permutations.
  auto own_seed = [](DistributedSampler& s, int r, std::int64_t e, std::int64_t b) {
    DistributedSampler mine(1000, s.global_batch(), r, 4, 42 + r);
    return actual(mine, r, e, b);
  };
  EXPECT_FALSE(shards_partition_global_batches(1000, 40, 4, 42, 1, own_seed));
  // Off by one batch on the last rank.
  auto shifted = [](DistributedSampler& s, int r, std::int64_t e, std::int64_t b) {
    return actual(s, r, e, r == 3 ? (b + 1) % s.batches_per_epoch() : b);
  };
  EXPECT_FALSE(shards_partition_global_batches(1000, 40, 4, 42, 1, shifted));
}

TEST(DistributedSampler, EpochsArePermutationsThatDiffer) {
  DistributedSampler s(100, 10, 0, 1, 9);
  const auto e0 = std::vector<std::int64_t>(s.epoch_order(0).begin(), s.epoch_order(0).end());
  const auto e1 = std::vector<std::int64_t>(s.epoch_order(1).begin(), s.epoch_order(1).end());
  EXPECT_NE(e0, e1);
  auto sorted = e0;
  std::sort(sorted.begin(), sorted.end());
  for (std::int64_t i = 0; i < 100; ++i) EXPECT_EQ(sorted[i], i);
  DistributedSampler again(100, 10, 0, 1, 9);
  EXPECT_TRUE(std::ranges::equal(again.epoch_order(1), e1));
}

TEST(DistributedSampler, DropsTheRemainderAndChecksSizes) {
  DistributedSampler s(1003, 100, 1, 4, 1);
  EXPECT_EQ(s.batches_per_epoch(), 10);
  EXPECT_EQ(s.local_batch(), 25);
  EXPECT_THROW(s.indices(0, 10), Error);
  EXPECT_THROW(DistributedSampler(100, 10, 0, 3, 1), Error);  // 10 is not a multiple of 3
  EXPECT_THROW(DistributedSampler(100, 200, 0, 1, 1), Error);
  EXPECT_THROW(DistributedSampler(100, 10, 4, 4, 1), Error);
}

TEST(ShardRange, CoversEverythingOnce) {
  for (std::int64_t n : {0, 1, 7, 100, 101})
    for (int p = 1; p <= 8; ++p) {
      std::int64_t next = 0;
      for (int r = 0; r < p; ++r) {
        const Range g = shard_range(n, r, p);
        EXPECT_EQ(g.first, next);
        EXPECT_LE(g.count, n / p + 1);
        EXPECT_GE(g.count, n / p);
        next += g.count;
      }
      EXPECT_EQ(next, n);
    }
}

}  // namespace
}  // namespace dtlab

namespace dtlab {
namespace {

// The normalisation is one fused multiply-add per pixel, rounded once, in every build: the GPU's
// gather (__fmaf_rn) must give the same bits, which a multiply and an add rounded twice would not
// (for Fashion-MNIST's mean and deviation, 126 of the 256 values differ between the two).
TEST(Dataset, GatherNormalisesEveryPixelValueWithOneRounding) {
  Dataset d;
  d.size = 1;
  d.features = 256;
  d.classes = 2;
  d.mean = 0.2860406f;
  d.stddev = 0.3530242f;
  d.y = {1};
  for (int v = 0; v < 256; ++v) d.x.push_back(std::uint8_t(v));
  std::vector<float> xb(256);
  std::vector<std::int32_t> yb(1);
  const std::int64_t first = 0;
  d.gather(std::span<const std::int64_t>(&first, 1), xb, yb);
  const auto [scale, shift] = d.normalisation();
  for (int v = 0; v < 256; ++v) {
    ASSERT_EQ(xb[std::size_t(v)], std::fma(float(v), scale, shift)) << "pixel value " << v;
    ASSERT_NEAR(xb[std::size_t(v)], (v / 255.0 - d.mean) / d.stddev, 1e-6) << "pixel value " << v;
  }
  EXPECT_EQ(yb[0], 1);
}

}  // namespace
}  // namespace dtlab
