// safetensors files and training checkpoints.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "dtlab/error.hpp"
#include "dtlab/io.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/optim.hpp"
#include "dtlab/safetensors.hpp"
#include "dtlab/checkpoint.hpp"
#include "dtlab/train.hpp"
#include "test_util.hpp"

namespace dtlab {
namespace {

namespace fs = std::filesystem;

void write_sample(const fs::path& path) {
  const std::vector<float> a{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f};
  const std::vector<float> b{42.0f};
  const std::vector<TensorRef> t{TensorRef::f32("a", {2, 3}, a), TensorRef::f32("b.bias", {1}, b)};
  write_safetensors(path, t, {{"step", "12"}});
}

std::string bytes_of(const fs::path& p) { return read_file(p); }
void put(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }

TEST(Safetensors, RoundTrip) {
  test::TempDir dir;
  write_sample(dir / "x.safetensors");
  const SafetensorsFile f = read_safetensors(dir / "x.safetensors");
  EXPECT_EQ(f.metadata.at("step"), "12");
  EXPECT_EQ(f.at("a").shape, (std::vector<std::int64_t>{2, 3}));
  EXPECT_EQ(f.at("a").f32(), (std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f, 7.0f, 8.0f}));
  EXPECT_EQ(f.at("b.bias").f32(), std::vector<float>{42.0f});
  EXPECT_THROW(f.at("c"), Error);
}

TEST(Safetensors, LayoutFollowsTheSpec) {
  test::TempDir dir;
  write_sample(dir / "x.safetensors");
  const std::string s = bytes_of(dir / "x.safetensors");
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(std::uint8_t(s[i])) << (8 * i);
  EXPECT_EQ(n % 8, 0u) << "the header is padded so the data is 8-byte aligned";
  const auto h = nlohmann::json::parse(s.substr(8, n));
  EXPECT_EQ(h.at("a").at("dtype"), "F32");
  EXPECT_EQ(h.at("a").at("data_offsets"), nlohmann::json({0, 24}));
  EXPECT_EQ(h.at("b.bias").at("data_offsets"), nlohmann::json({24, 28}));
  EXPECT_EQ(s.size(), 8 + n + 28);
  float first;
  std::memcpy(&first, s.data() + 8 + n, 4);
  EXPECT_EQ(first, 1.5f);
}

TEST(Safetensors, DetectsCorruption) {
  test::TempDir dir;
  write_sample(dir / "x.safetensors");
  const std::string good = bytes_of(dir / "x.safetensors");
  auto expect_bad = [&](const std::string& content, const std::string& needle) {
    put(dir / "bad.safetensors", content);
    try {
      read_safetensors(dir / "bad.safetensors");
      ADD_FAILURE() << "accepted a file that should fail with '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  std::string flipped = good;
  flipped.back() ^= 0x40;
  expect_bad(flipped, "checksum mismatch");
  expect_bad(good.substr(0, good.size() - 4), "outside the 24 data bytes");
  expect_bad(good.substr(0, 5), "fewer than the 8-byte");
  std::string huge = good;
  huge[7] = 0x7f;
  expect_bad(huge, "does not fit");
  std::string not_json = good;
  not_json[8] = '[';
  expect_bad(not_json, "does not start with '{'");
}

TEST(Safetensors, RejectsOverlappingTensors) {
  test::TempDir dir;
  const std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  std::string s(8, '\0');
  s[0] = char(header.size());
  s += header + std::string(8, '\0');
  put(dir / "o.safetensors", s);
  EXPECT_THROW(read_safetensors(dir / "o.safetensors"), Error);
}

TEST(Safetensors, ReadableByAnIndependentReader) {
  if (std::system("python3 -c pass > /dev/null 2>&1") != 0) GTEST_SKIP() << "python3 not found";
  test::TempDir dir;
  write_sample(dir / "x.safetensors");
  const std::string cmd = std::string("python3 ") + DTLAB_SOURCE_DIR + "/tests/tools/safetensors_read.py " +
                          (dir / "x.safetensors").string() + " > " + (dir / "out.json").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const auto j = nlohmann::json::parse(read_file(dir / "out.json"));
  EXPECT_EQ(j.at("metadata").at("step"), "12");
  EXPECT_EQ(j.at("tensors").at("a").at("shape"), nlohmann::json({2, 3}));
  EXPECT_DOUBLE_EQ(j.at("tensors").at("a").at("sum").get<double>(), 17.75);
  EXPECT_DOUBLE_EQ(j.at("tensors").at("b.bias").at("sum").get<double>(), 42.0);
}

TEST(AtomicWrite, FailureLeavesNothingBehind) {
  test::TempDir dir;
  put(dir / "keep", "old");
  fs::create_directory(dir / "target-is-a-folder");
  EXPECT_THROW(write_file_atomic(dir / "target-is-a-folder", "new"), Error);
  EXPECT_THROW(write_file_atomic(dir / "keep" / "below-a-file", "new"), Error);
  for (const auto& e : fs::directory_iterator(dir.path()))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
  EXPECT_EQ(bytes_of(dir / "keep"), "old");
  write_file_atomic(dir / "keep", "new");
  EXPECT_EQ(bytes_of(dir / "keep"), "new");
}

TEST(Checkpoint, RestoresParametersOptimizerAndPosition) {
  test::TempDir dir;
  Mlp m(MlpConfig{6, {5}, 3});
  m.init(1);
  auto opt = make_optimizer({.name = "adam"}, m.num_params());
  std::vector<float> g(m.num_params(), 0.1f);
  opt->step(m.params(), g, 0.01);
  save_checkpoint(dir / "c.safetensors", m, *opt, {.step = 7, .epoch = 2, .next_batch = 3, .seed = 99});

  Mlp back(MlpConfig{6, {5}, 3});
  auto opt2 = make_optimizer({.name = "adam"}, back.num_params());
  const TrainState st = load_checkpoint(dir / "c.safetensors", back, *opt2);
  EXPECT_EQ(st.step, 7);
  EXPECT_EQ(st.epoch, 2);
  EXPECT_EQ(st.next_batch, 3);
  EXPECT_EQ(st.seed, 99u);
  EXPECT_EQ(opt2->steps(), 1);
  EXPECT_TRUE(std::ranges::equal(back.params(), m.params()));
  for (std::size_t k = 0; k < 2; ++k)
    EXPECT_TRUE(std::ranges::equal(opt2->state()[k].second, opt->state()[k].second));
  // PyTorch-style names a plain reader can use.
  const auto f = read_safetensors(dir / "c.safetensors");
  EXPECT_EQ(f.at("layers.0.weight").shape, (std::vector<std::int64_t>{5, 6}));
  EXPECT_EQ(f.at("optimizer.exp_avg.layers.1.bias").shape, std::vector<std::int64_t>{3});
}

TEST(Checkpoint, MismatchIsAnErrorAndChangesNothing) {
  test::TempDir dir;
  Mlp m(MlpConfig{6, {5}, 3});
  m.init(1);
  auto sgd = make_optimizer({.name = "sgd"}, m.num_params());
  save_checkpoint(dir / "c.safetensors", m, *sgd, {});
  Mlp other(MlpConfig{6, {4}, 3});
  other.init(2);
  const std::vector<float> before(other.params().begin(), other.params().end());
  auto sgd2 = make_optimizer({.name = "sgd"}, other.num_params());
  try {
    load_checkpoint(dir / "c.safetensors", other, *sgd2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds a 6-5-3 model"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(std::ranges::equal(other.params(), before));
  Mlp same(MlpConfig{6, {5}, 3});
  auto adam = make_optimizer({.name = "adam"}, same.num_params());
  EXPECT_THROW(load_checkpoint(dir / "c.safetensors", same, *adam), Error);
}

}  // namespace
}  // namespace dtlab
