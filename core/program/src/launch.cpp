#include "dtlab/program/launch.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string_view>

#include "dtlab/comm.hpp"
#include "dtlab/error.hpp"
#include "dtlab/program/cluster.hpp"
#include "dtlab/runtime.hpp"

extern char** environ;

namespace dtlab::program {

namespace {
// argv for exec and spawn: the strings' own storage, then the terminating null.
std::vector<char*> argv_of(std::vector<std::string>& words) {
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  return argv;
}

// Waits for a child; its exit code, or 128 + the signal that ended it, as a shell reports it.
int wait_for(pid_t pid, const std::string& what) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) throw Error(fmt::format("waiting for {}: {}", what, std::strerror(errno)));
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}
}  // namespace

void add_placement_options(CLI::App& app, LaunchOptions& opt) {
  auto* hostfile = app.add_option("--hostfile", opt.hostfile, "mpirun hostfile, to run across machines")
                       ->check(CLI::ExistingFile);
  // A flag with an optional value: --cluster is the cluster named dtlab, --cluster=NAME another.
  app.add_flag("--cluster{dtlab}", opt.cluster,
               "Run on the virtual cluster that `dtlab cluster up` made (--cluster=NAME for another "
               "than dtlab): its hosts talk over its shaped links")
      ->excludes(hostfile);
}

std::string self_exe() {
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) throw Error("cannot find this program's path (/proc/self/exe)");
  return std::string(exe, std::size_t(n));
}

bool needs_launch(const LaunchOptions& opt) {
  return (opt.ranks > 1 || !opt.hostfile.empty() || !opt.cluster.empty()) && !started_by_launcher();
}

std::vector<std::string> mpirun_flags(const LaunchOptions& opt) {
  // --quiet: dtlab prints its own error messages; Open MPI's banners would only repeat them.
  std::vector<std::string> f{"--quiet"};
  if (opt.ranks > 0) f.insert(f.end(), {"-np", std::to_string(opt.ranks)});  // else the hostfile's slots
  if (!opt.cluster.empty()) {
    const Cluster c = load_cluster(opt.cluster);
    if (opt.ranks > c.slots())
      throw Error(fmt::format("cluster '{}' has {} slots ({} hosts x {}), fewer than the {} ranks asked for: "
                              "ask for fewer, or make it again with more (dtlab cluster up --slots)",
                              c.name, c.slots(), c.hosts.size(), c.slots_per_host, opt.ranks));
    for (auto& w : c.mpirun_flags()) f.push_back(w);
  } else if (!opt.hostfile.empty()) {
    f.insert(f.end(), {"--hostfile", opt.hostfile});
  } else if (opt.ranks > int(sysconf(_SC_NPROCESSORS_ONLN))) {
    // More ranks than cores: allowed, and idle ranks must yield or the job crawls.
    f.insert(f.end(), {"--oversubscribe", "--bind-to", "none", "--mca", "mpi_yield_when_idle", "1"});
  }
  if (const char* extra = std::getenv("DTLAB_MPIRUN_ARGS")) {
    std::istringstream in(extra);
    for (std::string w; in >> w;) f.push_back(w);
  }
  return f;
}

void exec_under_mpirun(const LaunchOptions& opt, int argc, char** argv) {
  const char* mpirun = std::getenv("DTLAB_MPIRUN");
  if (!mpirun || !*mpirun) mpirun = "mpirun";
  std::vector<std::string> args{mpirun};
  for (auto& f : mpirun_flags(opt)) args.push_back(f);
  // The child runs the same command line; it finds itself under a launcher and does not relaunch.
  args.push_back(self_exe());
  for (int i = 1; i < argc; ++i) {
    // Open MPI's mpirun reads "--tune FILE" anywhere on its command line, ours included, as a file
    // of MCA parameters: our flag --tune reaches the ranks as --tune=true, which it leaves alone.
    args.emplace_back(std::string_view(argv[i]) == "--tune" ? "--tune=true" : argv[i]);
  }
  if (geteuid() == 0) {  // Open MPI refuses root unless told twice
    setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
    setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  }
  if (isatty(STDERR_FILENO)) setenv("DTLAB_TTY", "1", 0);  // for the progress bar on rank 0
  std::vector<char*> cargs = argv_of(args);
  std::fflush(stdout);
  execvp(cargs[0], cargs.data());
  throw Error(fmt::format("cannot start {}: {}; install Open MPI (./dtlab setup installs openmpi-bin) "
                          "or set DTLAB_MPIRUN",
                          mpirun, std::strerror(errno)));
}

void check_world_size(int expected) {
  const int size = Comm::world().size();
  if (expected > 0 && size != expected)
    throw Error(fmt::format("the job has {} ranks but --ranks asks for {}; give mpirun/srun and "
                            "--ranks the same number",
                            size, expected));
}

std::string default_allreduce_rules() {
  return (std::filesystem::path(self_exe()).parent_path().parent_path() / "allreduce-rules.txt").string();
}

void use_tuned_allreduce_rules() {
  if (std::getenv("DTLAB_ALLREDUCE_RULES")) return;
  const std::string path = default_allreduce_rules();
  if (std::filesystem::exists(path)) setenv("DTLAB_ALLREDUCE_RULES", path.c_str(), 1);
}

int run_self(const std::vector<std::string>& args) {
  std::string exe = self_exe();
  std::vector<std::string> all{exe};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> cargs = argv_of(all);
  std::fflush(stdout);
  pid_t pid = 0;
  if (const int rc = posix_spawn(&pid, exe.c_str(), nullptr, nullptr, cargs.data(), environ); rc != 0)
    throw Error(fmt::format("cannot start {}: {}", exe, std::strerror(rc)));
  return wait_for(pid, exe);
}

CommandResult run_command(const std::vector<std::string>& argv) {
  std::vector<std::string> words = argv;
  std::vector<char*> cargs = argv_of(words);
  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) throw Error(fmt::format("cannot make a pipe: {}", std::strerror(errno)));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  pid_t pid = 0;
  const int rc = posix_spawnp(&pid, cargs[0], &actions, nullptr, cargs.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(out[1]);
  CommandResult r;
  if (rc != 0) {
    close(out[0]);
    return {127, fmt::format("cannot start {}: {}", argv[0], std::strerror(rc))};
  }
  char buf[4096];
  for (ssize_t n; (n = read(out[0], buf, sizeof buf)) != 0;) {
    if (n > 0) r.output.append(buf, std::size_t(n));
    else if (errno != EINTR) break;
  }
  close(out[0]);
  r.exit_code = wait_for(pid, argv[0]);
  return r;
}

void exec_program(const std::string& path, const std::vector<std::string>& args) {
  std::vector<std::string> all{path};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> cargs = argv_of(all);
  std::fflush(stdout);
  execv(path.c_str(), cargs.data());
  throw Error(fmt::format("cannot start {}: {}; rebuild with ./dtlab build", path, std::strerror(errno)));
}

}  // namespace dtlab::program
