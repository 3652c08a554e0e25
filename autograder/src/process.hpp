// Running untrusted programs: a new session, resource limits, an optional unprivileged user, a
// wall-clock deadline, bounded output, and every process of the session killed at the end.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace dtlab::grader {

struct Limits {
  double wall_seconds = 60;
  double cpu_seconds = 0;                   // per process; 0: twice the wall time
  // Memory. Where the machine offers a memory cgroup (the grader is root), the whole job, every
  // process together, may use job_memory_bytes (0: memory_bytes) of memory; elsewhere each process
  // may reserve memory_bytes of address space (RLIMIT_AS), except in sanitizer builds, whose
  // shadow memory needs terabytes of address space: there only the cgroup limits memory.
  std::size_t memory_bytes = 1ull << 30;
  std::size_t job_memory_bytes = 0;
  std::size_t processes = 512;              // per user; applied only with a sandbox user
  std::size_t file_bytes = 64ull << 20;     // largest file a process may write
  std::size_t output_bytes = 256ull << 10;  // kept of standard output and of standard error
};

struct Spawn {
  std::vector<std::string> argv;
  std::filesystem::path cwd;
  std::vector<std::pair<std::string, std::string>> env;  // set on top of the grader's own
  std::string stdin_data;
  int uid = -1;  // run as this user and group (the grader must be root); -1: as the grader
  int gid = -1;
  Limits limits;
};

struct Outcome {
  int exit_code = -1;
  int signal = 0;
  bool timed_out = false;
  double seconds = 0;
  std::string out;  // standard output, cut in the middle when longer than the limit
  std::string err;
  bool out_of_memory = false;     // the kernel killed a process for going over the job's memory limit
  std::size_t memory_limit = 0;   // that limit, in bytes
  bool ok() const { return !timed_out && signal == 0 && exit_code == 0; }
  std::string describe() const;  // "exited with code 1", "killed by SIGSEGV", "timed out after 60 s"
};

Outcome run_sandboxed(const Spawn& spawn);

// How run_sandboxed limits memory on this machine: "a memory cgroup", "an address-space limit per
// process", or "" where it cannot (a sanitizer build without memory cgroups); why_not says why.
std::string memory_limit_mode(std::string& why_not);

// Kills every process of session sid (SIGKILL), until none is left; returns how many it killed.
int kill_session(pid_t sid);

// Kills every process of user uid (only when the grader is root and uid is not root's).
void kill_user(int uid);

// The processes of a session, or of a user, that are alive (not zombies).
std::vector<pid_t> session_processes(pid_t sid);
std::vector<pid_t> user_processes(int uid);

}  // namespace dtlab::grader
