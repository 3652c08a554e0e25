#include "dtlab/program/timing.hpp"

#include <fmt/format.h>

#include "dtlab/error.hpp"

namespace dtlab::program {

std::vector<std::uint64_t> sizes(std::uint64_t min, std::uint64_t max) {
  if (min == 0 || max < min)
    throw Error(fmt::format("sizes: need 0 < min-bytes <= max-bytes, got {} and {}", min, max));
  std::vector<std::uint64_t> s;
  for (std::uint64_t b = min; b <= max; b *= 2) s.push_back(b);
  return s;
}

std::uint64_t parse_bytes(const std::string& text) {
  std::size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(text, &pos);
  } catch (const std::exception&) {
    throw Error(fmt::format("'{}' is not a size; expected a number with an optional K, M or G", text));
  }
  const std::string unit = text.substr(pos);
  double mult = 1;
  if (unit == "K" || unit == "k") mult = 1024;
  else if (unit == "M" || unit == "m") mult = 1024.0 * 1024;
  else if (unit == "G" || unit == "g") mult = 1024.0 * 1024 * 1024;
  else if (!unit.empty() && unit != "B")
    throw Error(fmt::format("'{}': unknown unit '{}'; expected K, M or G", text, unit));
  if (!(v > 0)) throw Error(fmt::format("'{}': a size must be positive", text));
  return std::uint64_t(v * mult);
}

}  // namespace dtlab::program
