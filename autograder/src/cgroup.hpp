// A memory cgroup for one graded run. Its limit counts the memory the run's processes use
// (resident pages, and page cache they fill), where RLIMIT_AS counts the address space they
// reserve: sanitizer builds reserve terabytes of shadow memory they never touch, so only a cgroup
// limits them sensibly. cgroup v2 (memory.max) and v1 (memory.limit_in_bytes) are both handled.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

namespace dtlab::grader {

class MemoryCgroup {
 public:
  // A fresh cgroup limited to `bytes`, or nullptr where the machine offers none to this process
  // (no memory controller, a read-only cgroup file system, not root). `why` then says why.
  static std::unique_ptr<MemoryCgroup> create(std::size_t bytes, std::string& why);
  // Whether create() can succeed here; `why` says why not.
  static bool available(std::string& why) { return create(1ull << 30, why) != nullptr; }
  // Kills what is left in it and removes it.
  ~MemoryCgroup();
  MemoryCgroup(const MemoryCgroup&) = delete;
  MemoryCgroup& operator=(const MemoryCgroup&) = delete;

  // Moves the calling process into the cgroup. Async-signal-safe: for a child between fork and
  // exec. Returns false on failure.
  bool enter_self() const noexcept;
  // Whether the kernel killed a process of the cgroup for going over the limit.
  bool out_of_memory() const;
  std::size_t limit_bytes() const { return bytes_; }

 private:
  MemoryCgroup(std::filesystem::path dir, bool v2, std::size_t bytes);
  std::filesystem::path dir_;
  std::string procs_;  // dir_/cgroup.procs, kept as a string for enter_self
  bool v2_;
  std::size_t bytes_;
};

}  // namespace dtlab::grader
