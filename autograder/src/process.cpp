#include "process.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <mutex>
#include <set>
#include <thread>

#include "cgroup.hpp"
#include "dtlab/error.hpp"

namespace dtlab::grader {

namespace fs = std::filesystem;

std::string Outcome::describe() const {
  if (timed_out) return fmt::format("timed out after {:.0f} s", seconds);
  if (out_of_memory)
    return fmt::format("killed by signal {} ({}) for using more memory than the job may ({} MiB for all its processes)",
                       signal, strsignal(signal), memory_limit >> 20);
  if (signal) return fmt::format("killed by signal {} ({})", signal, strsignal(signal));
  return fmt::format("exited with code {}", exit_code);
}

namespace {

// Live (not zombie) processes that match: by session, or by owner.
template <class Match>
std::vector<pid_t> live_processes(Match&& match) {
  std::vector<pid_t> found;
  for (const auto& e : fs::directory_iterator("/proc", fs::directory_options::skip_permission_denied)) {
    const std::string name = e.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(e.path() / "stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    // pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses.
    const auto close = stat.rfind(')');
    if (close == std::string::npos) continue;
    char state = 0;
    long ppid = 0, pgrp = 0, session = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %ld %ld %ld", &state, &ppid, &pgrp, &session) != 4) continue;
    if (state != 'Z' && match(e.path(), session)) found.push_back(pid_t(std::stol(name)));
  }
  return found;
}

// Orphans of a graded program (a fork bomb's children, ranks whose mpirun died) are re-parented
// to the grader, which is a child subreaper, instead of to init: the grader can then reap them at
// once. Until reaped, a dead process still counts against the sandbox user's process limit.
std::mutex g_children_mutex;
std::set<pid_t> g_direct_children;  // waited for by their own run_sandboxed call

void become_subreaper() {
  static const bool done = [] { return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0; }();
  (void)done;
}

pid_t parent_of_zombie(const fs::path& proc_dir) {
  std::ifstream in(proc_dir / "stat");
  std::string stat;
  if (!std::getline(in, stat)) return -1;
  const auto close = stat.rfind(')');
  char state = 0;
  long ppid = 0;
  if (close == std::string::npos || std::sscanf(stat.c_str() + close + 1, " %c %ld", &state, &ppid) != 2) return -1;
  return state == 'Z' ? pid_t(ppid) : -1;
}

// Reaps the zombies the grader inherited, leaving alone the children other calls wait for.
void reap_orphans() {
  const pid_t self = getpid();
  for (const auto& e : fs::directory_iterator("/proc", fs::directory_options::skip_permission_denied)) {
    const std::string name = e.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    if (parent_of_zombie(e.path()) != self) continue;
    const pid_t pid = pid_t(std::stol(name));
    std::lock_guard lock(g_children_mutex);
    if (!g_direct_children.count(pid)) waitpid(pid, nullptr, WNOHANG);
  }
}

int owner(const fs::path& proc_dir) {
  struct stat st {};
  return ::stat(proc_dir.c_str(), &st) == 0 ? int(st.st_uid) : -1;
}

}  // namespace

std::vector<pid_t> session_processes(pid_t sid) {
  return live_processes([sid](const fs::path&, long session) { return session == sid; });
}

std::vector<pid_t> user_processes(int uid) {
  return live_processes([uid](const fs::path& dir, long) { return owner(dir) == uid; });
}

int kill_session(pid_t sid) {
  int killed = 0;
  for (int round = 0; round < 50; ++round) {
    const auto pids = session_processes(sid);
    if (pids.empty()) break;
    for (pid_t p : pids)
      if (::kill(p, SIGKILL) == 0) ++killed;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  reap_orphans();
  return killed;
}

void kill_user(int uid) {
  if (uid <= 0 || geteuid() != 0) return;
  // Until none is left: a fork bomb makes new processes while the old ones are being killed.
  for (int round = 0; round < 200 && !user_processes(uid).empty(); ++round) {
    const pid_t pid = fork();
    if (pid == 0) {
      // As that user, "every process I may signal" is exactly that user's processes.
      if (setgid(uid) == 0 && setuid(uid) == 0)
        for (int i = 0; i < 20; ++i) ::kill(-1, SIGKILL);
      _exit(0);
    }
    if (pid > 0) waitpid(pid, nullptr, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    reap_orphans();
  }
}

namespace {

// Keeps the first and the last half of a stream when it is longer than the limit.
struct Capture {
  std::size_t limit;
  std::string head = {}, tail = {};
  std::size_t total = 0;

  void add(const char* p, std::size_t n) {
    total += n;
    const std::size_t half = limit / 2;
    const std::size_t to_head = std::min(n, half > head.size() ? half - head.size() : 0);
    head.append(p, to_head);
    tail.append(p + to_head, n - to_head);
    if (tail.size() > 2 * half) tail.erase(0, tail.size() - half);
  }

  std::string text() const {
    const std::size_t half = limit / 2;
    if (total <= limit) return head + tail;
    const std::string t = tail.size() > half ? tail.substr(tail.size() - half) : tail;
    return head + fmt::format("\n[... {} bytes cut ...]\n", total - head.size() - t.size()) + t;
  }
};

void set_limit(int resource, rlim_t value) {
  rlimit r{value, value};
  setrlimit(resource, &r);
}

// Sanitizer builds reserve far more address space than RLIMIT_AS can allow (ASan: about 20 TiB of
// shadow), and submissions are built with the grader's own flags.
constexpr bool kSanitizerBuild =
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    true;
#else
    false;
#endif

[[noreturn]] void child(const Spawn& s, const MemoryCgroup* cgroup, int in_fd, int out_fd, int err_fd) {
  setsid();
  if (cgroup && !cgroup->enter_self()) {
    static const char msg[] = "grader: cannot enter the run's memory cgroup\n";
    (void)!::write(err_fd, msg, sizeof msg - 1);
    _exit(126);
  }
  dup2(in_fd, 0);
  dup2(out_fd, 1);
  dup2(err_fd, 2);
  const Limits& l = s.limits;
  const double cpu = l.cpu_seconds > 0 ? l.cpu_seconds : 2 * l.wall_seconds + 5;
  rlimit cpu_limit{rlim_t(cpu), rlim_t(cpu) + 5};  // SIGXCPU first, SIGKILL 5 s later
  setrlimit(RLIMIT_CPU, &cpu_limit);
  if (!cgroup && !kSanitizerBuild) set_limit(RLIMIT_AS, l.memory_bytes);
  set_limit(RLIMIT_FSIZE, l.file_bytes);
  set_limit(RLIMIT_CORE, 0);
  if (!s.cwd.empty() && chdir(s.cwd.c_str()) != 0) {
    std::fprintf(stderr, "grader: cannot enter %s: %s\n", s.cwd.c_str(), std::strerror(errno));
    _exit(126);
  }
  for (const auto& [k, v] : s.env) setenv(k.c_str(), v.c_str(), 1);
  if (s.uid >= 0) {
    set_limit(RLIMIT_NPROC, l.processes);
    if (setgroups(0, nullptr) != 0 || setgid(s.gid >= 0 ? s.gid : s.uid) != 0 || setuid(s.uid) != 0) {
      std::fprintf(stderr, "grader: cannot switch to user %d: %s\n", s.uid, std::strerror(errno));
      _exit(126);
    }
  }
  std::vector<char*> argv;
  for (const auto& a : s.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  execvp(argv[0], argv.data());
  std::fprintf(stderr, "grader: cannot run %s: %s\n", argv[0], std::strerror(errno));
  _exit(127);
}

}  // namespace

std::string memory_limit_mode(std::string& why_not) {
  if (MemoryCgroup::available(why_not)) return "a memory cgroup";
  if (!kSanitizerBuild) return "an address-space limit per process";
  why_not += ", and a sanitizer build cannot run under an address-space limit";
  return "";
}

Outcome run_sandboxed(const Spawn& s) {
  if (s.argv.empty()) throw Error("run_sandboxed: no command");
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
    throw Error(fmt::format("cannot create pipes: {}", std::strerror(errno)));
  become_subreaper();
  Outcome o;
  const std::size_t job_bytes = s.limits.job_memory_bytes ? s.limits.job_memory_bytes : s.limits.memory_bytes;
  std::string no_cgroup;
  const auto cgroup = MemoryCgroup::create(job_bytes, no_cgroup);
  o.memory_limit = job_bytes;
  std::fflush(nullptr);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid;
  {
    std::lock_guard lock(g_children_mutex);
    pid = fork();
    if (pid > 0) g_direct_children.insert(pid);
  }
  if (pid < 0) throw Error(fmt::format("cannot fork: {}", std::strerror(errno)));
  if (pid == 0) child(s, cgroup.get(), in[0], out[1], err[1]);
  close(in[0]);
  close(out[1]);
  close(err[1]);
  // The stdin line is short (the pipe buffer holds it); a child that never reads it is fine.
  signal(SIGPIPE, SIG_IGN);
  if (!s.stdin_data.empty()) {
    const ssize_t n = write(in[1], s.stdin_data.data(), s.stdin_data.size());
    (void)n;
  }
  close(in[1]);

  Capture cout{s.limits.output_bytes}, cerr{s.limits.output_bytes};
  const auto deadline = start + std::chrono::duration<double>(s.limits.wall_seconds);
  std::chrono::steady_clock::time_point drain_until{};
  bool out_open = true, err_open = true;
  char buf[65536];
  while (out_open || err_open) {
    const auto now = std::chrono::steady_clock::now();
    if (!o.timed_out && now >= deadline) {
      o.timed_out = true;
      kill_session(pid);
      kill_user(s.uid);
      drain_until = now + std::chrono::seconds(2);  // an escaped process may hold the pipes
    }
    if (o.timed_out && now >= drain_until) break;
    pollfd fds[2] = {{out_open ? out[0] : -1, POLLIN, 0}, {err_open ? err[0] : -1, POLLIN, 0}};
    const auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        (o.timed_out ? drain_until : deadline) - now).count();
    const int r = poll(fds, 2, int(std::clamp<long long>(wait_ms, 1, 1000)));
    if (r < 0 && errno != EINTR) break;
    for (int k = 0; k < 2; ++k) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = read(fds[k].fd, buf, sizeof buf);
      if (n > 0) (k == 0 ? cout : cerr).add(buf, std::size_t(n));
      else (k == 0 ? out_open : err_open) = false;
    }
  }
  close(out[0]);
  close(err[0]);
  int status = 0;
  for (int tries = 0; waitpid(pid, &status, WNOHANG) == 0; ++tries) {
    if (tries == 100) {  // 2 s after the streams closed: it is stuck
      kill_session(pid);
      o.timed_out = o.timed_out || std::chrono::steady_clock::now() >= deadline;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  {
    std::lock_guard lock(g_children_mutex);
    g_direct_children.erase(pid);
  }
  // Whatever the program left running (ranks, children, a fork bomb) goes with it.
  kill_session(pid);
  kill_user(s.uid);
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) o.signal = WTERMSIG(status);
  o.out_of_memory = cgroup && cgroup->out_of_memory();
  o.out = cout.text();
  o.err = cerr.text();
  return o;
}

}  // namespace dtlab::grader
