#include "dtlab/data.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <numeric>

#include "dtlab/error.hpp"
#include "dtlab/rng.hpp"

namespace dtlab {

namespace fs = std::filesystem;

// ---- IDX files ----

namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803;  // unsigned bytes, 3 dimensions
constexpr std::uint32_t kLabelsMagic = 0x00000801;  // unsigned bytes, 1 dimension

// A gzip (or plain: zlib reads those too) file read in full or not at all.
class GzFile {
 public:
  explicit GzFile(const fs::path& path) : path_(path) {
    f_ = gzopen(path.c_str(), "rb");
    if (!f_) {
      const int err = errno;
      std::string hint;
      if (err == ENOENT)
        hint = "; Fashion-MNIST comes with the Debian package dataset-fashion-mnist (./dtlab setup "
               "installs it), or point --data-dir or DTLAB_DATA at a folder with the four files";
      throw Error(fmt::format("cannot open {}: {}{}", path.string(), std::strerror(err), hint));
    }
    gzbuffer(f_, 1 << 20);
  }
  ~GzFile() {
    if (f_) gzclose(f_);
  }
  GzFile(const GzFile&) = delete;
  GzFile& operator=(const GzFile&) = delete;

  // Reads exactly n bytes; what names them goes into the error when the file ends early.
  void read(void* out, std::size_t n, const char* what) {
    auto* p = static_cast<unsigned char*>(out);
    std::size_t got = 0;
    while (got < n) {
      const unsigned chunk = unsigned(std::min<std::size_t>(n - got, 1u << 30));
      const int r = gzread(f_, p + got, chunk);
      if (r < 0) {
        int code = 0;
        const char* msg = gzerror(f_, &code);
        throw Error(fmt::format("{}: cannot read {}: {}", path_.string(), what, msg));
      }
      if (r == 0) break;
      got += std::size_t(r);
    }
    if (got < n)
      throw Error(fmt::format("{}: truncated: {} needs {} bytes but the file ends after {}",
                              path_.string(), what, n, got));
  }

  std::uint32_t read_be32(const char* what) {
    unsigned char b[4];
    read(b, 4, what);
    return (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) |
           std::uint32_t(b[3]);
  }

  // Data after the last item means the header and the body disagree.
  void expect_end() {
    unsigned char extra;
    if (gzread(f_, &extra, 1) > 0)
      throw Error(fmt::format("{}: has data after the last item; the header's counts do not match "
                              "the file",
                              path_.string()));
  }

 private:
  fs::path path_;
  gzFile f_ = nullptr;
};

void check_magic(const fs::path& path, std::uint32_t magic, std::uint32_t expected, const char* kind) {
  if (magic != expected)
    throw Error(fmt::format("{}: not an IDX {} file: magic number 0x{:08x}, expected 0x{:08x}",
                            path.string(), kind, magic, expected));
}

}  // namespace

IdxImages read_idx_images(const fs::path& path) {
  GzFile f(path);
  check_magic(path, f.read_be32("the magic number"), kImagesMagic, "image");
  IdxImages img;
  img.count = f.read_be32("the image count");
  img.rows = int(f.read_be32("the row count"));
  img.cols = int(f.read_be32("the column count"));
  if (img.rows <= 0 || img.cols <= 0 || img.rows > 4096 || img.cols > 4096)
    throw Error(fmt::format("{}: implausible image size {}x{}", path.string(), img.rows, img.cols));
  img.pixels.resize(std::size_t(img.count) * img.rows * img.cols);
  f.read(img.pixels.data(), img.pixels.size(), fmt::format("{} images", img.count).c_str());
  f.expect_end();
  return img;
}

std::vector<std::uint8_t> read_idx_labels(const fs::path& path) {
  GzFile f(path);
  check_magic(path, f.read_be32("the magic number"), kLabelsMagic, "label");
  std::vector<std::uint8_t> labels(f.read_be32("the label count"));
  f.read(labels.data(), labels.size(), fmt::format("{} labels", labels.size()).c_str());
  f.expect_end();
  return labels;
}

fs::path default_fashion_mnist_dir() {
  if (const char* d = std::getenv("DTLAB_DATA"); d && *d) return d;
  return "/usr/share/datasets/fashion-mnist";
}

namespace {

Dataset load_pair(const fs::path& dir, const std::string& prefix, const std::string& name) {
  const fs::path images = dir / (prefix + "-images-idx3-ubyte.gz");
  const fs::path labels = dir / (prefix + "-labels-idx1-ubyte.gz");
  IdxImages img = read_idx_images(images);
  const std::vector<std::uint8_t> lab = read_idx_labels(labels);
  if (std::int64_t(lab.size()) != img.count)
    throw Error(fmt::format("{} has {} images but {} has {} labels; they must match",
                            images.string(), img.count, labels.string(), lab.size()));
  Dataset d;
  d.name = name;
  d.size = img.count;
  d.features = img.rows * img.cols;
  d.classes = 10;
  d.x = std::move(img.pixels);
  d.y.resize(lab.size());
  for (std::size_t i = 0; i < lab.size(); ++i) {
    if (lab[i] >= d.classes)
      throw Error(fmt::format("{}: label {} of item {} is outside 0..9", labels.string(), lab[i], i));
    d.y[i] = lab[i];
  }
  return d;
}

// Mean and standard deviation of x/255 over a dataset, used to normalise both splits.
void set_normalisation(DataSplit& s) {
  double sum = 0, sq = 0;
  for (const std::uint8_t v : s.train.x) {
    sum += v;
    sq += double(v) * v;
  }
  const double n = double(s.train.x.size());
  const double mean = n > 0 ? sum / n / 255.0 : 0.0;
  const double var = n > 0 ? sq / n / (255.0 * 255.0) - mean * mean : 1.0;
  const float sd = float(std::sqrt(std::max(var, 1e-12)));
  for (Dataset* d : {&s.train, &s.test}) {
    d->mean = float(mean);
    d->stddev = sd;
  }
}

}  // namespace

DataSplit load_fashion_mnist(const fs::path& dir) {
  DataSplit s{load_pair(dir, "train", "fashion-mnist/train"),
              load_pair(dir, "t10k", "fashion-mnist/test")};
  if (s.train.features != s.test.features)
    throw Error(fmt::format("{}: training images have {} pixels but test images have {}",
                            dir.string(), s.train.features, s.test.features));
  set_normalisation(s);
  return s;
}

void Dataset::gather(std::span<const std::int64_t> indices, std::span<float> xb,
                     std::span<std::int32_t> yb) const {
  const std::size_t f = std::size_t(features);
  if (xb.size() != indices.size() * f || yb.size() != indices.size())
    throw Error(fmt::format("Dataset::gather: {} indices need {} inputs and {} labels, got {} and {}",
                            indices.size(), indices.size() * f, indices.size(), xb.size(), yb.size()));
  // Every pixel is one of 256 values: normalise those once, explicitly fused, and look them up.
  const auto [scale, shift] = normalisation();
  std::array<float, 256> normalised;
  for (int v = 0; v < 256; ++v) normalised[std::size_t(v)] = std::fma(float(v), scale, shift);
  for (std::size_t k = 0; k < indices.size(); ++k) {
    const std::int64_t i = indices[k];
    if (i < 0 || i >= size)
      throw Error(fmt::format("Dataset::gather: index {} is outside 0..{}", i, size - 1));
    // restrict: a uint8_t pointer may alias anything, which would stop the loop vectorising.
    const std::uint8_t* __restrict src = &x[std::size_t(i) * f];
    float* __restrict dst = &xb[k * f];
    for (std::size_t j = 0; j < f; ++j) dst[j] = normalised[src[j]];
    yb[k] = y[std::size_t(i)];
  }
}

void Dataset::slice(std::int64_t first, std::int64_t n, std::span<float> xb,
                    std::span<std::int32_t> yb) const {
  std::vector<std::int64_t> idx(static_cast<std::size_t>(n));
  std::iota(idx.begin(), idx.end(), first);
  gather(idx, xb, yb);
}

// ---- synthetic ----

DataSplit make_synthetic(const SyntheticConfig& c) {
  if (c.train <= 0 || c.test < 0 || c.features <= 0 || c.classes < 2 || !(c.noise >= 0))
    throw Error("synthetic dataset: needs train > 0, test >= 0, features > 0, classes >= 2, noise >= 0");
  Rng rng(c.seed);
  std::vector<double> prototypes(std::size_t(c.classes) * c.features);
  for (auto& p : prototypes) p = rng.uniform(0, 255);
  auto make = [&](std::int64_t n, const char* name) {
    Dataset d;
    d.name = fmt::format("synthetic/{}", name);
    d.size = n;
    d.features = c.features;
    d.classes = c.classes;
    d.x.resize(std::size_t(n) * c.features);
    d.y.resize(std::size_t(n));
    for (std::int64_t i = 0; i < n; ++i) {
      const auto label = std::int32_t(rng.below(std::uint64_t(c.classes)));
      d.y[std::size_t(i)] = label;
      for (int j = 0; j < c.features; ++j) {
        const double v = prototypes[std::size_t(label) * c.features + j] + 255.0 * c.noise * rng.normal();
        d.x[std::size_t(i) * c.features + j] = std::uint8_t(std::lround(std::clamp(v, 0.0, 255.0)));
      }
    }
    return d;
  };
  DataSplit s{make(c.train, "train"), make(c.test, "test")};
  set_normalisation(s);
  return s;
}

// ---- sharding ----

DistributedSampler::DistributedSampler(std::int64_t dataset_size, std::int64_t global_batch,
                                       int rank, int world, std::uint64_t seed, bool shuffle)
    : size_(dataset_size), global_batch_(global_batch), rank_(rank), world_(world), seed_(seed),
      shuffle_(shuffle) {
  if (world <= 0 || rank < 0 || rank >= world)
    throw Error(fmt::format("sampler: rank {} of {} does not exist", rank, world));
  if (global_batch <= 0 || global_batch % world != 0)
    throw Error(fmt::format("the global batch ({}) must be a positive multiple of the number of "
                            "ranks ({}), so that every rank gets an equal share",
                            global_batch, world));
  if (global_batch > dataset_size)
    throw Error(fmt::format("the global batch ({}) is larger than the dataset ({} samples)",
                            global_batch, dataset_size));
}

std::span<const std::int64_t> DistributedSampler::epoch_order(std::int64_t epoch) {
  if (epoch != cached_epoch_) {
    order_.resize(std::size_t(size_));
    for (std::int64_t i = 0; i < size_; ++i) order_[std::size_t(i)] = i;
    if (shuffle_) {
      Rng rng(seed_ ^ (0xD1B54A32D192ED03ull * std::uint64_t(epoch + 1)));
      shuffle(std::span<std::int64_t>(order_), rng);
    }
    cached_epoch_ = epoch;
  }
  return order_;
}

std::span<const std::int64_t> DistributedSampler::indices(std::int64_t epoch, std::int64_t b) {
  if (b < 0 || b >= batches_per_epoch())
    throw Error(fmt::format("sampler: batch {} does not exist; an epoch has {}", b,
                            batches_per_epoch()));
  const auto order = epoch_order(epoch);
  return order.subspan(std::size_t(b * global_batch_ + rank_ * local_batch()),
                       std::size_t(local_batch()));
}

Range shard_range(std::int64_t n, int rank, int world) {
  const std::int64_t base = n / world, extra = n % world;
  return {rank * base + std::min<std::int64_t>(rank, extra), base + (rank < extra ? 1 : 0)};
}

}  // namespace dtlab
