// Starting MPI jobs from the command line: `dtlab train --ranks 4` (and every lab program) runs
// mpirun itself, so users need not know its flags; inside an existing mpirun or srun job it just runs.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace dtlab::program {

struct LaunchOptions {
  int ranks = 0;         // 0: not given (one rank, or inside a job as many as the job has)
  std::string hostfile;  // passed to mpirun; a cluster's own oversubscription rules then apply
  std::string cluster;   // a virtual cluster's name (`dtlab cluster up`): its hosts, over TCP
};

// The options every MPI program shares for where its ranks run: --hostfile and --cluster (each
// program adds --ranks itself, with its own default and help).
void add_placement_options(CLI::App& app, LaunchOptions& opt);

// True when this process should re-execute itself under mpirun: more than one rank asked for, or
// a hostfile or cluster given, and no launcher started us.
bool needs_launch(const LaunchOptions& opt);

// Replaces this process with `mpirun -np P [flags] <this program> <same arguments>`. Returns only
// by throwing dtlab::Error when mpirun cannot be started.
[[noreturn]] void exec_under_mpirun(const LaunchOptions& opt, int argc, char** argv);

// Inside the job: the world must have as many ranks as the command asked for (any, for 0).
void check_world_size(int expected);

// Runs this program with args as a child process, its output going to ours; returns its exit code.
int run_self(const std::vector<std::string>& args);

// Runs a command (argv[0] looked up in PATH), its standard output and error captured together;
// a command that cannot be started gives exit code 127, as in a shell.
struct CommandResult {
  int exit_code = 0;
  std::string output;
};
CommandResult run_command(const std::vector<std::string>& argv);

// Replaces this process with the program at path, run with args (argv[0] is the path). dtlab
// hands a lab's command to the lab's own program this way; that program then starts mpirun itself
// when its options ask for more ranks than the job has.
[[noreturn]] void exec_program(const std::string& path, const std::vector<std::string>& args);

// The path of the running program (/proc/self/exe).
std::string self_exe();

// Where `dtlab bench allreduce --tune` writes this machine's allreduce rules: beside the build's
// bin/ folder (build/allreduce-rules.txt), so that a build, which belongs to one machine, keeps them.
std::string default_allreduce_rules();

// Sets DTLAB_ALLREDUCE_RULES to default_allreduce_rules() when it is unset and that file exists,
// so that Lab 01's reference allreduce (in train, bench) takes this machine's measured switch points.
void use_tuned_allreduce_rules();

// The mpirun flags dtlab adds for p ranks on this machine (for messages and docs).
std::vector<std::string> mpirun_flags(const LaunchOptions& opt);

}  // namespace dtlab::program
