// Layers split by rows or columns: Megatron-LM's tensor parallelism on dtlab's MLP (Lab 03).
// This is only the description of each rank's block of a Linear layer and its initial values; the
// parallel forward and backward, and their communication, are what students write in Lab 03 with
// layers.hpp's kernels.
//
// A Linear layer's weight is out x in, row-major (PyTorch's layout), y = x W^T + b:
//  - a column-parallel shard keeps outputs [o0, o1): rows o0..o1-1 of W and b. Its y is a block
//    of the columns of the full y; an allgather assembles it, or a row-parallel layer consumes it.
//  - a row-parallel shard keeps inputs [i0, i1): columns i0..i1-1 of W. Its x W_r^T is a partial
//    sum over its inputs; an allreduce adds the p of them into the full y.
// (The names are Megatron's, whose weight is in x out: its columns are our rows.)
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "dtlab/mlp.hpp"

namespace dtlab {

// The half-open range [begin, end).
struct Block {
  int begin = 0;
  int end = 0;
  int size() const { return end - begin; }
  bool operator==(const Block&) const = default;
};

// Part `index` of `width` cut into `parts` equal blocks: [index*w/p, (index+1)*w/p). Equal blocks
// give every rank the same GEMM shapes and message sizes, so no rank waits on a bigger one: throws
// dtlab::Error, naming the width (described by `what`) and the parts, unless parts divides width,
// and unless 0 <= index < parts.
Block even_block(int width, int parts, int index, std::string_view what = "width");

enum class ShardKind {
  column,  // column-parallel: a block of the outputs
  row,     // row-parallel: a block of the inputs
};

// One rank's block of one Linear layer of an MLP.
struct LinearShard {
  int layer = 0;  // which Linear of the MLP, 0 first
  ShardKind kind = ShardKind::column;
  Block out;  // the outputs kept: rows of W (and of b); all of them for a row shard
  Block in;   // the inputs kept: columns of W; all of them for a column shard
  // Whether it holds b[out]. Every column shard holds its slice of b. Of the row shards only part 0
  // holds b, so that the allreduce of the partial sums adds it once, and the shards' parameters
  // partition the layer's (other ranks pass zeros as the bias to linear_forward).
  bool bias = true;

  std::size_t weight_size() const { return std::size_t(out.size()) * std::size_t(in.size()); }
  std::size_t bias_size() const { return bias ? std::size_t(out.size()) : 0; }
};

// Part `index` of `parts` of layer `layer` of the MLP config describes. Throws dtlab::Error when
// the layer does not exist or parts does not divide the width being split.
LinearShard column_shard(const MlpConfig& config, int layer, int parts, int index);
LinearShard row_shard(const MlpConfig& config, int layer, int parts, int index);

// Fills weight (shard.out.size() x shard.in.size(), row-major) and bias (bias_size() values) with
// exactly what Mlp(config).init(seed) gives that block of the layer, so that a tensor-parallel
// model initialised shard by shard is the unsplit model, without any rank sending parameters.
void init_shard(const MlpConfig& config, const LinearShard& shard, std::uint64_t seed,
                std::span<float> weight, std::span<float> bias);

}  // namespace dtlab
