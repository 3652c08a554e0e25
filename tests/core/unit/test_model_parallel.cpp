// The model parts of Lab 03: pipeline stages against the whole MLP, micro-batch accumulation,
// tensor-parallel shards against the unsplit layers, and checkpoints per shard.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "dtlab/aligned.hpp"
#include "dtlab/checkpoint.hpp"
#include "dtlab/error.hpp"
#include "dtlab/layers.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/rng.hpp"
#include "dtlab/safetensors.hpp"
#include "dtlab/stage.hpp"
#include "dtlab/tensor_parallel.hpp"
#include "test_util.hpp"

namespace dtlab {
namespace {

namespace fs = std::filesystem;

const MlpConfig kModel{20, {16, 12, 8}, 5};  // 4 layers: 20-16, 16-12, 12-8, 8-5
constexpr std::uint64_t kSeed = 11;

// Inputs in aligned memory, as the model's own buffers are (aligned.hpp: alignment changes sums).
AlignedVector<float> inputs(int batch, int width, std::uint64_t seed) {
  Rng rng(seed);
  AlignedVector<float> x(std::size_t(batch) * width);
  for (auto& v : x) v = float(rng.normal());
  return x;
}

std::vector<std::int32_t> labels(int batch, int classes, std::uint64_t seed) {
  Rng rng(seed);
  std::vector<std::int32_t> y(static_cast<std::size_t>(batch));
  for (auto& v : y) v = std::int32_t(rng.below(std::uint64_t(classes)));
  return y;
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The logits of the whole model by layers.hpp's kernels, in aligned buffers as Mlp's own forward.
AlignedVector<float> logits_of(const Mlp& m, std::span<const float> x, int batch) {
  AlignedVector<float> in(x.begin(), x.end()), out;
  for (std::size_t l = 0; l < m.layers().size(); ++l) {
    const auto& s = m.layers()[l];
    out.assign(std::size_t(batch) * s.out, 0.0f);
    MatMap y(out.data(), batch, s.out);
    linear_forward(ConstMatMap(in.data(), batch, s.in),
                   ConstMatMap(&m.params()[s.weight], s.out, s.in),
                   ConstVecMap(&m.params()[s.bias], s.out), y);
    if (l + 1 < m.layers().size()) relu_forward(y);
    in.swap(out);
  }
  return in;
}

// The stages a set of cut points makes: bit k of cuts set = a stage boundary before layer k + 1.
std::vector<MlpStage> stages_at(const MlpConfig& config, int layers, unsigned cuts) {
  std::vector<MlpStage> stages;
  int first = 0;
  for (int k = 1; k <= layers; ++k)
    if (k == layers || (cuts >> (k - 1) & 1u)) {
      stages.emplace_back(config, first, k);
      first = k;
    }
  return stages;
}

// ---- (a) stages composed are the whole model, bit for bit ----

// Every way to cut the 4 layers into consecutive stages (one stage, every split point k into
// [0, k) and [k, 4), and the 3- and 4-stage pipelines): the same parameters after init, and after
// a forward and backward through the stages in turn the same logits, loss and parameter gradients
// as Mlp::forward_backward on the whole batch. Equal bits, since each stage runs the whole
// model's layer code on the same values in the same aligned buffers.
TEST(MlpStage, ComposedStagesAreTheWholeModelBitForBitAtEverySplit) {
  const int batch = 9, L = 4;
  const auto x = inputs(batch, kModel.inputs, 1);
  const auto y = labels(batch, kModel.classes, 2);
  Mlp whole(kModel);
  whole.init(kSeed);
  const auto want_logits = logits_of(whole, x, batch);
  const float want_loss = whole.forward_backward(x, y);

  for (unsigned cuts = 0; cuts < 1u << (L - 1); ++cuts) {
    std::vector<MlpStage> stages = stages_at(kModel, L, cuts);
    SCOPED_TRACE(::testing::Message() << stages.size() << " stages, cut points mask " << cuts);
    std::vector<float> params, grads;
    std::span<const float> h = x;
    for (auto& s : stages) {
      s.init(kSeed);
      params.insert(params.end(), s.params().begin(), s.params().end());
      h = s.forward(0, h);
    }
    EXPECT_TRUE(same_bits(params, whole.params())) << "init differs from Mlp::init";
    EXPECT_TRUE(same_bits(h, want_logits)) << "logits differ";
    const MlpStage::Loss loss = stages.back().loss(0, y);
    EXPECT_TRUE(same_bits(std::span(&loss.value, 1), std::span(&want_loss, 1)))
        << loss.value << " vs " << want_loss;
    std::span<const float> dy = loss.dlogits;
    for (auto s = stages.rbegin(); s != stages.rend(); ++s) {
      dy = s->backward(0, dy);
      EXPECT_EQ(dy.size(), s->first() == 0 ? 0u : std::size_t(batch) * s->inputs());
      EXPECT_EQ(s->in_flight(), 0);
    }
    for (const auto& s : stages) grads.insert(grads.end(), s.grads().begin(), s.grads().end());
    EXPECT_TRUE(same_bits(grads, whole.grads())) << "parameter gradients differ";
  }
}

TEST(MlpStage, LayoutIsTheWholeModelsMovedToZero) {
  Mlp whole(kModel);
  const MlpStage s(kModel, 1, 3);
  ASSERT_EQ(s.layers().size(), 2u);
  EXPECT_EQ(s.inputs(), 16);
  EXPECT_EQ(s.outputs(), 8);
  EXPECT_FALSE(s.has_loss());
  const std::size_t base = whole.layers()[1].weight;
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(s.layers()[i].weight, whole.layers()[1 + i].weight - base);
    EXPECT_EQ(s.layers()[i].bias, whole.layers()[1 + i].bias - base);
  }
  EXPECT_EQ(s.num_params(), whole.layers()[2].end() - base);
}

TEST(MlpStage, MisuseIsAClearError) {
  EXPECT_NE(error_of([] { MlpStage(kModel, 2, 2); }).find("0 <= first < last <= 4, got [2, 2)"),
            std::string::npos);
  EXPECT_THROW(MlpStage(kModel, 0, 5), Error);
  EXPECT_THROW(MlpStage(kModel, -1, 1), Error);

  MlpStage first(kModel, 0, 2), last(kModel, 2, 4);
  first.init(kSeed);
  last.init(kSeed);
  const auto x = inputs(3, kModel.inputs, 1);
  EXPECT_NE(
      error_of([&] { first.forward(0, std::span(x).first(7)); }).find("needs batch x 20 inputs"),
      std::string::npos);
  const auto h = first.forward(5, x);
  EXPECT_NE(error_of([&] { first.forward(5, x); }).find("micro-batch 5 is already in flight"),
            std::string::npos);
  EXPECT_NE(error_of([&] { first.backward(4, h); }).find("micro-batch 4, which is not in flight"),
            std::string::npos);
  EXPECT_NE(error_of([&] { first.loss(5, labels(3, 5, 2)); }).find("model's last layer (3)"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              first.backward(5, std::span(h).first(4));
            }).find("needs dL/d(output) of 3 x 12"),
            std::string::npos);
  last.forward(5, h);
  EXPECT_NE(error_of([&] { last.loss(5, labels(2, 5, 2)); }).find("3 samples but 2 labels"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              last.loss(5, std::vector<std::int32_t>{0, 1, 5});
            }).find("label 5 is outside 0..4"),
            std::string::npos);
  // A forward-only pass (evaluation) releases what it kept.
  EXPECT_EQ(last.in_flight(), 1);
  last.release(5);
  EXPECT_EQ(last.in_flight(), 0);
  EXPECT_THROW(last.release(5), Error);
}

// ---- (b) micro-batches accumulate to the whole batch ----

// m micro-batches of B/m samples, each loss scaled by 1/m, accumulate the gradient of the mean
// loss over the B samples, in GPipe's order (all forwards, then all backwards in reverse) and in
// 1F1B's (a backward as soon as possible). Not bitwise: the per-sample terms of each gradient are
// summed in another grouping (within each micro-batch, then across them), and dlogits are scaled
// by 1/b then 1/m instead of 1/B (two roundings, 2u). Two float sums of k terms differ by at most
// 2*gamma_k*sum|terms|, gamma_k = k*u/(1 - k*u), u = 2^-24: 2.4e-6 of the terms' magnitude for
// the longest sum here (k = 20). A gradient passes through at most 4 forward and 4 backward such
// products: 8 * 2.4e-6 = 1.9e-5, and 1e-4 of the largest gradient leaves a margin of 5x for
// cancellation. Any real mistake is far larger: a missing micro-batch or an overwrite instead of
// an accumulation loses 1/m of the gradient or more, a forgotten 1/m multiplies it by m.
// Measured: 2e-7 of the largest gradient at worst (the last bits), for m = 2..4.
TEST(MicroBatches, AccumulateToTheWholeBatchGradient) {
  constexpr double kRel = 1e-4;
  const int batch = 12;
  const auto x = inputs(batch, kModel.inputs, 3);
  const auto y = labels(batch, kModel.classes, 4);
  Mlp whole(kModel);
  whole.init(kSeed);
  const float want_loss = whole.forward_backward(x, y);

  for (const bool one_f_one_b : {false, true})
    for (const int m : {1, 2, 3, 4}) {
      SCOPED_TRACE(::testing::Message()
                   << m << " micro-batches, " << (one_f_one_b ? "1F1B" : "GPipe"));
      MlpStage a(kModel, 0, 2), b(kModel, 2, 4);
      a.init(kSeed);
      b.init(kSeed);
      const int mb = batch / m;
      double loss = 0;
      int peak = 0;
      auto forward = [&](int i) {
        b.forward(i, a.forward(i, std::span(x).subspan(std::size_t(i) * mb * kModel.inputs,
                                                       std::size_t(mb) * kModel.inputs)));
        peak = std::max(peak, a.in_flight());
      };
      auto backward = [&](int i) {
        const auto l =
            b.loss(i, std::span(y).subspan(std::size_t(i) * mb, std::size_t(mb)), 1.0f / float(m));
        loss += l.value / m;
        a.backward(i, b.backward(i, l.dlogits));
      };
      if (one_f_one_b) {
        // Two stages: one forward ahead, then one backward, one forward, and so on.
        forward(0);
        for (int i = 0; i < m; ++i) {
          if (i + 1 < m) forward(i + 1);
          backward(i);
        }
        EXPECT_EQ(peak, std::min(m, 2));
      } else {
        for (int i = 0; i < m; ++i) forward(i);
        for (int i = m; i-- > 0;) backward(i);
        EXPECT_EQ(peak, m) << "GPipe keeps every micro-batch's activations";
      }
      EXPECT_EQ(a.in_flight() + b.in_flight(), 0);
      EXPECT_NEAR(loss, want_loss, kRel * want_loss);
      std::vector<float> grads(a.grads().begin(), a.grads().end());
      grads.insert(grads.end(), b.grads().begin(), b.grads().end());
      test::expect_close(grads, whole.grads(), kRel);
      if (m == 1) {
        EXPECT_TRUE(same_bits(grads, whole.grads())) << "one micro-batch is the whole batch";
      }

      // zero_grads starts the next accumulation afresh.
      a.zero_grads();
      EXPECT_TRUE(std::ranges::all_of(a.grads(), [](float g) { return g == 0.0f; }));
      forward(0);
      backward(0);
      EXPECT_FALSE(std::ranges::all_of(a.grads(), [](float g) { return g == 0.0f; }));
    }
}

// ---- (c) tensor-parallel shards reassemble the unsplit layers ----

// Widths divisible by 1, 2, 3 and 4.
const MlpConfig kWide{12, {24, 36}, 12};

// For every layer and p = 1..4, the p column shards and the p row shards, each initialised on its
// own, put back together are the unsplit model's W and b bit for bit, every element written by
// exactly one shard (the reassembled buffers start as NaN).
TEST(TensorParallel, ShardsInitialisedAloneReassembleTheUnsplitLayers) {
  Mlp whole(kWide);
  whole.init(kSeed);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int l = 0; l < 3; ++l) {
    const LayerSlice& s = whole.layers()[std::size_t(l)];
    const auto want_w = whole.params().subspan(s.weight, s.bias - s.weight);
    const auto want_b = whole.params().subspan(s.bias, std::size_t(s.out));
    for (int p = 1; p <= 4; ++p)
      for (const ShardKind kind : {ShardKind::column, ShardKind::row}) {
        SCOPED_TRACE(::testing::Message() << "layer " << l << ", p = " << p << ", "
                                          << (kind == ShardKind::column ? "column" : "row"));
        std::vector<float> w(want_w.size(), nan), b(want_b.size(), nan);
        std::size_t held = 0;
        for (int r = 0; r < p; ++r) {
          const LinearShard sh =
              kind == ShardKind::column ? column_shard(kWide, l, p, r) : row_shard(kWide, l, p, r);
          EXPECT_EQ(sh.layer, l);
          EXPECT_EQ(sh.kind, kind);
          EXPECT_EQ(kind == ShardKind::column ? sh.in : sh.out,
                    (Block{0, kind == ShardKind::column ? s.in : s.out}));
          std::vector<float> sw(sh.weight_size()), sb(sh.bias_size());
          init_shard(kWide, sh, kSeed, sw, sb);
          held += sw.size() + sb.size();
          for (int i = 0; i < sh.out.size(); ++i)
            for (int j = 0; j < sh.in.size(); ++j)
              w[std::size_t(sh.out.begin + i) * s.in + std::size_t(sh.in.begin + j)] =
                  sw[std::size_t(i) * sh.in.size() + j];
          for (int i = 0; i < int(sb.size()); ++i)
            b[std::size_t(sh.out.begin + i)] = sb[std::size_t(i)];
        }
        EXPECT_TRUE(same_bits(w, want_w));
        EXPECT_TRUE(same_bits(b, want_b));
        EXPECT_EQ(held, want_w.size() + want_b.size())
            << "the shards partition the layer's parameters";
      }
  }
}

TEST(TensorParallel, BlocksAreEqualPartsOrAClearError) {
  EXPECT_EQ(even_block(12, 4, 0), (Block{0, 3}));
  EXPECT_EQ(even_block(12, 4, 3), (Block{9, 12}));
  EXPECT_EQ(even_block(12, 1, 0), (Block{0, 12}));
  EXPECT_EQ(error_of([] { even_block(10, 4, 0); }),
            "width (10) cannot be cut into 4 equal parts: 4 does not divide 10");
  EXPECT_NE(error_of([] { even_block(12, 4, 4); }).find("parts 0..3, not 4"), std::string::npos);
  EXPECT_THROW(even_block(12, 0, 0), Error);
  // The shard helpers name the model, the layer and which of its widths.
  const MlpConfig ten{12, {24}, 10};
  EXPECT_EQ(error_of([&] { column_shard(ten, 1, 4, 0); }),
            "MLP 12-24-10, the outputs of layer 1 (10) cannot be cut into 4 equal parts: 4 does "
            "not divide 10");
  EXPECT_EQ(error_of([&] { row_shard(ten, 0, 5, 0); }),
            "MLP 12-24-10, the inputs of layer 0 (12) cannot be cut into 5 equal parts: 5 does not "
            "divide 12");
  EXPECT_NE(error_of([&] { row_shard(ten, 2, 2, 0); }).find("has layers 0..1, not 2"),
            std::string::npos);
  // Only row shard 0 holds the bias, which the allreduce of the partial sums then adds once.
  EXPECT_TRUE(row_shard(kWide, 1, 3, 0).bias);
  EXPECT_FALSE(row_shard(kWide, 1, 3, 1).bias);
  const LinearShard c = column_shard(kWide, 1, 3, 1);
  std::vector<float> w(c.weight_size() - 1), b(c.bias_size());
  EXPECT_NE(error_of([&] {
              init_shard(kWide, c, kSeed, w, b);
            }).find("needs 288 weights and 12 biases, got 287"),
            std::string::npos);
}

// ---- (d) checkpoints per shard ----

struct Rank {
  MlpStage stage;
  std::unique_ptr<Optimizer> opt;
};

Rank rank_of(int first, int last, std::uint64_t seed) {
  Rank r{MlpStage(kModel, first, last), nullptr};
  r.stage.init(seed);
  r.opt = make_optimizer({.name = "adam"}, r.stage.num_params());
  return r;
}

TEST(ShardCheckpoint, EachStageRestoresItsParametersOptimizerAndPosition) {
  test::TempDir dir;
  const int bounds[] = {0, 1, 3, 4};  // three stages
  std::vector<Rank> ranks;
  for (int i = 0; i < 3; ++i) {
    ranks.push_back(rank_of(bounds[i], bounds[i + 1], kSeed));
    std::vector<float> g(ranks.back().stage.num_params());
    for (std::size_t k = 0; k < g.size(); ++k) g[k] = 0.01f * float(k % 7) - 0.03f;
    ranks.back().opt->step(ranks.back().stage.params(), g, 0.01);
    const CheckpointShard shard = checkpoint_shard(ranks.back().stage, i, 3);
    save_checkpoint(checkpoint_path(dir.path(), 117, i, 3), shard, ranks.back().stage.params(),
                    *ranks.back().opt, {.step = 117, .epoch = 2, .next_batch = 5, .seed = 9});
  }
  EXPECT_EQ(checkpoint_path(dir.path(), 117, 1, 3).filename(),
            "step-00000117.shard-01-of-03.safetensors");

  for (int i = 0; i < 3; ++i) {
    Rank back = rank_of(bounds[i], bounds[i + 1], kSeed + 1);
    const TrainState st =
        load_checkpoint(checkpoint_path(dir.path(), 117, i, 3), checkpoint_shard(back.stage, i, 3),
                        back.stage.params(), *back.opt);
    EXPECT_EQ(st.step, 117);
    EXPECT_EQ(st.epoch, 2);
    EXPECT_EQ(st.next_batch, 5);
    EXPECT_EQ(st.seed, 9u);
    EXPECT_EQ(back.opt->steps(), 1);
    EXPECT_TRUE(same_bits(back.stage.params(), ranks[std::size_t(i)].stage.params()));
    for (std::size_t k = 0; k < 2; ++k)
      EXPECT_TRUE(
          same_bits(back.opt->state()[k].second, ranks[std::size_t(i)].opt->state()[k].second));
  }
  // The model's own layer numbers, and the shard's identity for any reader.
  const auto f = read_safetensors(checkpoint_path(dir.path(), 117, 1, 3));
  EXPECT_EQ(f.at("layers.2.weight").shape, (std::vector<std::int64_t>{8, 12}));
  EXPECT_EQ(f.at("optimizer.exp_avg_sq.layers.1.bias").shape, std::vector<std::int64_t>{12});
  EXPECT_THROW(f.at("layers.0.weight"), Error);
  EXPECT_EQ(f.metadata.at("shard"), "1");
  EXPECT_EQ(f.metadata.at("shards"), "3");
  EXPECT_EQ(f.metadata.at("first_layer"), "1");
  EXPECT_EQ(f.metadata.at("last_layer"), "3");
  EXPECT_EQ(f.metadata.at("model"), "20-16-12-8-5");
}

TEST(ShardCheckpoint, AnotherShardsFileIsAnErrorAndChangesNothing) {
  test::TempDir dir;
  const Rank one = rank_of(1, 2, kSeed);
  save_checkpoint(dir / "one.safetensors", checkpoint_shard(one.stage, 1, 4), one.stage.params(),
                  *one.opt, {});

  // The identity in the metadata is checked first, before any tensor is looked at.
  Rank two = rank_of(2, 3, kSeed);
  const std::vector<float> before(two.stage.params().begin(), two.stage.params().end());
  EXPECT_EQ(
      error_of([&] {
        load_checkpoint(dir / "one.safetensors", checkpoint_shard(two.stage, 2, 4),
                        two.stage.params(), *two.opt);
      }),
      (dir / "one.safetensors").string() +
          ": is shard 1 of 4 (layers [1, 2)), but this rank loads shard 2 of 4 (layers [2, 3))");
  EXPECT_TRUE(same_bits(two.stage.params(), before));

  // The right layers under another shard count, another split, another optimizer: all refused.
  Rank same = rank_of(1, 2, kSeed + 1);
  EXPECT_NE(error_of([&] {
              load_checkpoint(dir / "one.safetensors", checkpoint_shard(same.stage, 1, 2),
                              same.stage.params(), *same.opt);
            }).find("is shard 1 of 4 (layers [1, 2)), but this rank loads shard 1 of 2"),
            std::string::npos);
  CheckpointShard split = checkpoint_shard(same.stage, 1, 4);
  split.split = "layer 1 column-parallel";
  EXPECT_NE(error_of([&] {
              load_checkpoint(dir / "one.safetensors", split, same.stage.params(), *same.opt);
            }).find("layers [1, 2), layer 1 column-parallel)"),
            std::string::npos);
  auto sgd = make_optimizer({.name = "sgd"}, same.stage.num_params());
  EXPECT_THROW(load_checkpoint(dir / "one.safetensors", checkpoint_shard(same.stage, 1, 4),
                               same.stage.params(), *sgd),
               Error);
  // A tensor that does not fit the flat buffer it is said to lie in.
  CheckpointShard outside = checkpoint_shard(same.stage, 1, 4);
  outside.tensors.back().offset += 1;
  EXPECT_NE(error_of([&] {
              load_checkpoint(dir / "one.safetensors", outside, same.stage.params(), *same.opt);
            }).find("does not fit in a flat buffer of 204 floats"),
            std::string::npos);
  EXPECT_THROW(checkpoint_shard(same.stage, 4, 4), Error);

  // A shard is not a whole model, and a whole model is not a shard.
  Mlp whole(kModel);
  auto whole_opt = make_optimizer({.name = "adam"}, whole.num_params());
  EXPECT_NE(error_of([&] {
              load_checkpoint(dir / "one.safetensors", whole, *whole_opt);
            }).find("is shard 1 of 4 (layers [1, 2)) of a split model, not a whole one"),
            std::string::npos);
  save_checkpoint(dir / "whole.safetensors", whole, *whole_opt, {});
  EXPECT_NE(error_of([&] {
              load_checkpoint(dir / "whole.safetensors", checkpoint_shard(same.stage, 1, 4),
                              same.stage.params(), *same.opt);
            }).find("holds a whole model, not shard 1 of 4"),
            std::string::npos);
  EXPECT_FALSE(read_safetensors(dir / "whole.safetensors").metadata.contains("shards"));
}

}  // namespace
}  // namespace dtlab
