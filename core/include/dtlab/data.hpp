// Datasets and how ranks share them: Fashion-MNIST from its IDX files, a seeded synthetic set for
// tests, and a DistributedSampler that gives each rank its slice of every global batch.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace dtlab {

// Samples stored as bytes (as in the IDX files: a quarter of the memory of floats, which matters
// with 8 ranks per machine) and normalised to floats batch by batch.
struct Dataset {
  std::string name;
  std::int64_t size = 0;  // samples
  int features = 0;       // per sample: 784 for 28x28 images
  int classes = 0;
  std::vector<std::uint8_t> x;  // size x features, row-major
  std::vector<std::int32_t> y;  // size labels in [0, classes)
  float mean = 0.0f;   // of x/255 over the training set
  float stddev = 1.0f;

  // A pixel value v in 0..255 becomes fma(v, scale, shift), rounded once: the same bits on the CPU
  // in every build (FMA or not, whatever the compiler contracts) and on the GPU (__fmaf_rn).
  struct Normalisation {
    float scale, shift;
  };
  Normalisation normalisation() const { return {1.0f / (255.0f * stddev), -mean / stddev}; }

  // Copies the samples at indices into xb (indices.size() x features floats, (x/255 - mean) /
  // stddev) and yb.
  void gather(std::span<const std::int64_t> indices, std::span<float> xb,
              std::span<std::int32_t> yb) const;
  // Contiguous samples [first, first + n).
  void slice(std::int64_t first, std::int64_t n, std::span<float> xb,
             std::span<std::int32_t> yb) const;
};

struct DataSplit {
  Dataset train;
  Dataset test;
};

// Where Fashion-MNIST is looked for: $DTLAB_DATA if set, else the Debian package's folder.
std::filesystem::path default_fashion_mnist_dir();

// Reads train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and
// t10k-labels-idx1-ubyte.gz (gzip or plain) from dir. A missing, truncated, wrong-magic or
// mismatched file is an error that names the file and the problem.
DataSplit load_fashion_mnist(const std::filesystem::path& dir);

// One IDX file: images (magic 0x00000803, n x rows x cols bytes) or labels (0x00000801, n bytes).
struct IdxImages {
  std::int64_t count = 0;
  int rows = 0, cols = 0;
  std::vector<std::uint8_t> pixels;
};
IdxImages read_idx_images(const std::filesystem::path& path);
std::vector<std::uint8_t> read_idx_labels(const std::filesystem::path& path);

// Gaussian clusters around one random prototype per class, quantised to bytes: learnable, but not
// trivially, and the same for a seed on every machine.
struct SyntheticConfig {
  std::int64_t train = 8192;
  std::int64_t test = 2048;
  int features = 64;
  int classes = 10;
  double noise = 0.6;  // standard deviation of the noise, as a fraction of the 0..255 range
  std::uint64_t seed = 1;
};
DataSplit make_synthetic(const SyntheticConfig& config);

// Gives rank r of p its share of every global batch, like torch.utils.data.DistributedSampler but
// sharding each global batch rather than the whole epoch, so that p ranks see exactly the batches
// one process with the global batch would see:
//  - every epoch is one permutation of the dataset, seeded by (seed, epoch), the same on every rank;
//  - global batch b is positions [b*B, (b+1)*B) of it, and rank r takes the r-th slice of B/p;
//  - the last N mod B samples of each epoch are dropped (a different few each epoch), so that all
//    ranks always run the same number of equal batches and gradient averaging stays exact.
class DistributedSampler {
 public:
  DistributedSampler(std::int64_t dataset_size, std::int64_t global_batch, int rank, int world,
                     std::uint64_t seed, bool shuffle = true);

  std::int64_t batches_per_epoch() const { return size_ / global_batch_; }
  std::int64_t local_batch() const { return global_batch_ / world_; }
  std::int64_t global_batch() const { return global_batch_; }

  // This rank's indices for batch b of epoch e (local_batch() of them).
  std::span<const std::int64_t> indices(std::int64_t epoch, std::int64_t b);
  // The whole order of epoch e, the same on every rank.
  std::span<const std::int64_t> epoch_order(std::int64_t epoch);

 private:
  std::int64_t size_, global_batch_;
  int rank_, world_;
  std::uint64_t seed_;
  bool shuffle_;
  std::int64_t cached_epoch_ = -1;
  std::vector<std::int64_t> order_;
};

// [first, first + count) of n items for rank r of p: contiguous, sizes differ by at most one.
// Used where every sample must be seen exactly once, as in evaluation.
struct Range {
  std::int64_t first = 0;
  std::int64_t count = 0;
};
Range shard_range(std::int64_t n, int rank, int world);

}  // namespace dtlab
