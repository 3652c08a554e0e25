#include "dtlab/safetensors.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "dtlab/error.hpp"
#include "dtlab/io.hpp"

namespace dtlab {

using nlohmann::json;

namespace {

constexpr std::uint64_t kMaxHeader = 100'000'000;  // the reference implementation's limit too

std::size_t dtype_bytes(const std::string& dtype) {
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "F64" || dtype == "I64") return 8;
  if (dtype == "U8") return 1;
  return 0;
}

std::int64_t product(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

std::string crc_hex(const std::uint8_t* data, std::size_t n) {
  uLong crc = crc32(0L, Z_NULL, 0);
  while (n > 0) {  // zlib takes the length as a uInt
    const uInt chunk = uInt(std::min<std::size_t>(n, 1u << 30));
    crc = crc32(crc, data, chunk);
    data += chunk;
    n -= chunk;
  }
  return fmt::format("{:08x}", std::uint32_t(crc));
}

}  // namespace

std::int64_t Tensor::elements() const { return product(shape); }

std::vector<float> Tensor::f32() const {
  if (dtype != "F32") throw Error(fmt::format("tensor is {}, not F32", dtype));
  std::vector<float> v(bytes.size() / 4);
  std::memcpy(v.data(), bytes.data(), v.size() * 4);
  return v;
}

const Tensor& SafetensorsFile::at(const std::string& name) const {
  const auto it = tensors.find(name);
  if (it == tensors.end()) throw Error(fmt::format("no tensor named '{}' in the file", name));
  return it->second;
}

void write_safetensors(const std::filesystem::path& path, std::span<const TensorRef> tensors,
                       std::map<std::string, std::string> metadata) {
  json header = json::object();
  std::uint64_t offset = 0;
  for (const auto& t : tensors) {
    const std::size_t eb = dtype_bytes(t.dtype);
    if (eb == 0) throw Error(fmt::format("safetensors: tensor '{}' has unsupported dtype {}", t.name, t.dtype));
    if (std::uint64_t(product(t.shape)) * eb != t.bytes.size())
      throw Error(fmt::format("safetensors: tensor '{}' has {} bytes, but its shape needs {}",
                              t.name, t.bytes.size(), product(t.shape) * eb));
    if (t.name == "__metadata__" || header.contains(t.name))
      throw Error(fmt::format("safetensors: tensor name '{}' is reserved or used twice", t.name));
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string out(8, '\0');
  std::vector<std::uint8_t> data;
  data.reserve(offset);
  for (const auto& t : tensors) data.insert(data.end(), t.bytes.begin(), t.bytes.end());
  metadata["dtlab.crc32"] = crc_hex(data.data(), data.size());
  header["__metadata__"] = metadata;
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data 8-byte aligned
  const std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = char((n >> (8 * i)) & 0xff);
  out += text;
  out.append(reinterpret_cast<const char*>(data.data()), data.size());
  write_file_atomic(path, out);
}

SafetensorsFile read_safetensors(const std::filesystem::path& path) {
  const std::string file = read_file(path);
  auto fail = [&](const std::string& why) -> Error {
    return Error(fmt::format("{}: not a valid safetensors file: {}", path.string(), why));
  };
  if (file.size() < 8) throw fail(fmt::format("it has {} bytes, fewer than the 8-byte header length", file.size()));
  std::uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= std::uint64_t(std::uint8_t(file[i])) << (8 * i);
  if (n > kMaxHeader || n > file.size() - 8)
    throw fail(fmt::format("header length {} does not fit in a file of {} bytes", n, file.size()));
  const std::string_view text(file.data() + 8, n);
  if (text.empty() || text.front() != '{') throw fail("the header does not start with '{'");
  json header;
  try {
    header = json::parse(text);
  } catch (const json::parse_error& e) {
    throw fail(fmt::format("the header is not JSON: {}", e.what()));
  }
  if (!header.is_object()) throw fail("the header is not a JSON object");
  const std::uint64_t data_len = file.size() - 8 - n;
  const auto* data = reinterpret_cast<const std::uint8_t*>(file.data() + 8 + n);

  SafetensorsFile out;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  for (const auto& [name, v] : header.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) throw fail("__metadata__ is not an object");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string()) throw fail(fmt::format("metadata '{}' is not a string", k));
        out.metadata[k] = s.get<std::string>();
      }
      continue;
    }
    try {
      Tensor t;
      t.dtype = v.at("dtype").get<std::string>();
      t.shape = v.at("shape").get<std::vector<std::int64_t>>();
      const auto off = v.at("data_offsets").get<std::vector<std::uint64_t>>();
      const std::size_t eb = dtype_bytes(t.dtype);
      if (eb == 0) throw fail(fmt::format("tensor '{}' has unsupported dtype {}", name, t.dtype));
      if (off.size() != 2 || off[0] > off[1] || off[1] > data_len)
        throw fail(fmt::format("tensor '{}' has data_offsets outside the {} data bytes", name, data_len));
      for (auto d : t.shape)
        if (d < 0) throw fail(fmt::format("tensor '{}' has a negative dimension", name));
      if (std::uint64_t(product(t.shape)) * eb != off[1] - off[0])
        throw fail(fmt::format("tensor '{}': shape needs {} bytes, data_offsets give {}", name,
                               product(t.shape) * eb, off[1] - off[0]));
      t.bytes.assign(data + off[0], data + off[1]);
      ranges.emplace_back(off[0], off[1]);
      out.tensors.emplace(name, std::move(t));
    } catch (const json::exception& e) {
      throw fail(fmt::format("tensor '{}' is malformed: {}", name, e.what()));
    }
  }
  // The tensors must tile the data section: no gaps, no overlaps, nothing after the last.
  std::sort(ranges.begin(), ranges.end());
  std::uint64_t at = 0;
  for (const auto& [b, e] : ranges) {
    if (b != at) throw fail(fmt::format("tensor data is not contiguous at byte {}", at));
    at = e;
  }
  if (at != data_len)
    throw fail(fmt::format("the tensors cover {} bytes but the data section has {}", at, data_len));
  if (const auto it = out.metadata.find("dtlab.crc32"); it != out.metadata.end()) {
    const std::string actual = crc_hex(data, data_len);
    if (actual != it->second)
      throw fail(fmt::format("checksum mismatch: the header says {}, the data gives {} (the file "
                             "is corrupted)",
                             it->second, actual));
  }
  return out;
}

}  // namespace dtlab
