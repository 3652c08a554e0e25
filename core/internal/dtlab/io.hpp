// Files: read whole, write atomically.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace dtlab {

// Reads a whole file; throws dtlab::Error naming the file and the reason.
std::string read_file(const std::filesystem::path& path);

// Writes data so that path holds either its old content or all of data, never a part: a temporary
// file in the same folder, fsync, rename over path, fsync of the folder. Creates missing folders.
void write_file_atomic(const std::filesystem::path& path, std::string_view data);

}  // namespace dtlab
