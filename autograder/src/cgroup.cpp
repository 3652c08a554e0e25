#include "cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

namespace dtlab::grader {

namespace fs = std::filesystem;

namespace {

bool write_text(const fs::path& p, const std::string& text) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size());
  ::close(fd);
  return ok;
}

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The cgroup this process is in, in the hierarchy that has `controller` ("" for v2's).
fs::path own_cgroup(const std::string& controller) {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    // hierarchy-id:controller-list:path
    const auto a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string list = line.substr(a + 1, b - a - 1);
    bool match = controller.empty() ? line.compare(0, a, "0") == 0 && list.empty() : false;
    for (std::size_t s = 0; !controller.empty() && s <= list.size();) {
      const auto e = std::min(list.find(',', s), list.size());
      match |= list.compare(s, e - s, controller) == 0;
      s = e + 1;
    }
    if (match) return fs::path(line.substr(b + 1)).relative_path();
  }
  return {};
}

std::vector<fs::path> candidates_v2() {
  const fs::path root = "/sys/fs/cgroup";
  if (read_text(root / "cgroup.controllers").find("memory") == std::string::npos) return {};
  // Our own cgroup where it may have children with the memory controller (delegated, or the
  // root), else the root of the hierarchy.
  std::vector<fs::path> c;
  const fs::path own = own_cgroup("");
  if (!own.empty()) c.push_back(root / own);
  c.push_back(root);
  return c;
}

std::vector<fs::path> candidates_v1() {
  const fs::path root = "/sys/fs/cgroup/memory";
  if (!fs::exists(root / "memory.limit_in_bytes")) return {};
  std::vector<fs::path> c;
  const fs::path own = own_cgroup("memory");
  if (!own.empty()) c.push_back(root / own);  // nested: the grader's own limit still holds
  c.push_back(root);
  return c;
}

std::atomic<int> g_counter{0};

}  // namespace

MemoryCgroup::MemoryCgroup(fs::path dir, bool v2, std::size_t bytes)
    : dir_(std::move(dir)), procs_((dir_ / "cgroup.procs").string()), v2_(v2), bytes_(bytes) {}

std::unique_ptr<MemoryCgroup> MemoryCgroup::create(std::size_t bytes, std::string& why) {
  if (geteuid() != 0) {
    why = "the grader is not root";
    return nullptr;
  }
  const std::string name = fmt::format("dtlab-grade-{}-{}", getpid(), g_counter++);
  for (const bool v2 : {true, false}) {
    for (const fs::path& parent : v2 ? candidates_v2() : candidates_v1()) {
      if (v2) write_text(parent / "cgroup.subtree_control", "+memory");  // may be on already
      const fs::path dir = parent / name;
      std::error_code ec;
      if (!fs::create_directory(dir, ec)) continue;
      const bool limited = write_text(dir / (v2 ? "memory.max" : "memory.limit_in_bytes"), std::to_string(bytes));
      if (v2) write_text(dir / "memory.swap.max", "0");  // no swapping past the limit (absent without swap)
      if (limited) return std::unique_ptr<MemoryCgroup>(new MemoryCgroup(dir, v2, bytes));
      fs::remove(dir, ec);
    }
  }
  why = "no memory cgroup could be made (no memory controller, or a read-only /sys/fs/cgroup)";
  return nullptr;
}

bool MemoryCgroup::enter_self() const noexcept {
  // Only async-signal-safe calls: the pid in decimal by hand.
  char buf[24];
  int n = 0;
  char digits[20];
  for (long v = long(getpid()); v > 0 && n < 20; v /= 10) digits[n++] = char('0' + v % 10);
  for (int k = 0; k < n; ++k) buf[k] = digits[n - 1 - k];
  buf[n] = '\n';
  const int fd = ::open(procs_.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const bool ok = ::write(fd, buf, std::size_t(n + 1)) == ssize_t(n + 1);
  ::close(fd);
  return ok;
}

bool MemoryCgroup::out_of_memory() const {
  // v2: memory.events has "oom_kill N"; v1: memory.oom_control has it too (Linux 4.13 on), and
  // memory.failcnt counts the times usage hit the limit.
  const std::string text = read_text(dir_ / (v2_ ? "memory.events" : "memory.oom_control"));
  const auto at = text.find("oom_kill ");
  if (at != std::string::npos) return std::stol(text.substr(at + 9)) > 0;
  if (v2_) return false;
  std::istringstream failcnt(read_text(dir_ / "memory.failcnt"));
  long hits = 0;
  failcnt >> hits;
  return hits > 0;
}

MemoryCgroup::~MemoryCgroup() {
  // A cgroup can only be removed once empty; the run's processes are normally gone by now.
  for (int round = 0; round < 100; ++round) {
    std::istringstream procs(read_text(procs_));
    bool any = false;
    for (pid_t pid; procs >> pid;) {
      ::kill(pid, SIGKILL);
      any = true;
    }
    if (!any && ::rmdir(dir_.c_str()) == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace dtlab::grader
