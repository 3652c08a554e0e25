// Small helpers shared by dtlab's tests.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <random>
#include <span>
#include <string>

namespace dtlab::test {

// A fresh folder under the system's temporary folder, removed with everything in it at the end.
class TempDir {
 public:
  TempDir() {
    std::string t = (std::filesystem::temp_directory_path() / "dtlab-test-XXXXXX").string();
    if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
    path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// FNV-1a over the bytes: equal hashes on every rank mean bitwise-equal buffers.
inline std::uint64_t fnv1a(std::span<const float> v) {
  std::uint64_t h = 1469598103934665603ull;
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  for (std::size_t i = 0; i < v.size_bytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// Agreement within rel, measured against the parameters' scale: the largest difference over the
// largest parameter, and the norm of the difference over the norm of the parameters. (Per-element
// relative error means nothing for parameters near zero, where a few ulps are a large fraction.)
inline void expect_close(std::span<const float> got, std::span<const float> want, double rel) {
  ASSERT_EQ(got.size(), want.size());
  double worst = 0, largest = 0, diff2 = 0, norm2 = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double d = std::abs(double(got[i]) - want[i]);
    if (d > worst) worst = d, at = i;
    largest = std::max(largest, std::abs(double(want[i])));
    diff2 += d * d;
    norm2 += double(want[i]) * want[i];
  }
  EXPECT_LE(worst, rel * largest) << "parameter " << at << ": " << got[at] << " vs " << want[at]
                                  << " (largest parameter " << largest << ")";
  EXPECT_LE(std::sqrt(diff2), rel * std::sqrt(norm2));
}

}  // namespace dtlab::test
