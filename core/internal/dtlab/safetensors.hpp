// safetensors files (https://github.com/huggingface/safetensors): an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range, then the raw
// little-endian data. Any safetensors reader (Python, Rust, JavaScript) loads what this writes.
#pragma once

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace dtlab {

// One tensor to write: its bytes are copied into the file as they are (x86 and ARM are little-endian).
struct TensorRef {
  std::string name;
  std::string dtype;  // F32, F64, I32, I64, U8
  std::vector<std::int64_t> shape;
  std::span<const std::uint8_t> bytes;

  static TensorRef f32(std::string name, std::vector<std::int64_t> shape, std::span<const float> v) {
    return {std::move(name), "F32", std::move(shape),
            {reinterpret_cast<const std::uint8_t*>(v.data()), v.size_bytes()}};
  }
};

struct Tensor {
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::vector<std::uint8_t> bytes;

  std::int64_t elements() const;
  // The data as floats; throws dtlab::Error unless dtype is F32.
  std::vector<float> f32() const;
};

struct SafetensorsFile {
  std::map<std::string, std::string> metadata;
  std::map<std::string, Tensor> tensors;
  // Throws dtlab::Error naming the tensor when it is missing.
  const Tensor& at(const std::string& name) const;
};

// Written atomically (temporary file, fsync, rename). The metadata gets "dtlab.crc32", the CRC-32
// of the data section, which read_safetensors checks.
void write_safetensors(const std::filesystem::path& path, std::span<const TensorRef> tensors,
                       std::map<std::string, std::string> metadata);

// Validates as strictly as the reference implementation: header size, JSON shape, dtypes, byte
// ranges that tile the data exactly, and the checksum when present.
SafetensorsFile read_safetensors(const std::filesystem::path& path);

}  // namespace dtlab
