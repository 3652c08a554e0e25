// dtlab cluster up|shape|status|down: a virtual cluster on this machine, to practise what runs on a
// real one and to give the communication-bound labs a slow network.
//
// Each host is a network namespace joined to a bridge by a veth pair (its link). tc shapes both
// directions of every link: a token bucket (tbf) at the configured rate on the host's uplink and on
// the bridge's port towards the host, and netem's delay on the uplink (one way between two hosts).
// mpirun reaches the hosts through a launch agent that enters a host's namespace the way ssh would
// log in, so ranks on different hosts talk over TCP through the shaped links, as on a cluster.
// --slurm adds munged, a controller and one slurmd per host: sbatch and srun work for real.
//
// Everything made is named after the cluster (NAME-br, NAME-h1, ...) and recorded in its folder
// (/run/dtlab/clusters/NAME), so that `down` removes exactly that, even after a failed `up`.
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "dtlab/error.hpp"
#include "dtlab/io.hpp"
#include "dtlab/program/cluster.hpp"

namespace dtlab::cli {

namespace fs = std::filesystem;
using program::Cluster;
using program::ClusterHost;
using program::CommandResult;
using program::run_command;

namespace {

using Argv = std::vector<std::string>;

// ---- settings as users write them ----

// "1gbit", "100mbit", "2.5gbit" (bits per second, decimal units, as tc writes them); "none": 0.
double parse_rate(const std::string& text) {
  if (text == "none" || text == "0") return 0;
  static const std::regex form(R"(([0-9]+(?:\.[0-9]+)?)(bit|kbit|mbit|gbit|tbit))", std::regex::icase);
  std::smatch m;
  if (std::regex_match(text, m, form)) {
    std::string unit = m[2];
    for (auto& ch : unit) ch = char(std::tolower(ch));
    const double scale = unit == "bit" ? 1 : unit == "kbit" ? 1e3 : unit == "mbit" ? 1e6 : unit == "gbit" ? 1e9 : 1e12;
    const double bps = std::stod(m[1]) * scale;
    if (bps >= 8e3) return bps;
  }
  throw Error(fmt::format("--bandwidth '{}': expected a rate of at least 8kbit, written like 1gbit, 100mbit "
                          "or 2.5gbit (bits per second), or none",
                          text));
}

// "50us", "1ms", "0.2ms", "1s"; "none": 0.
double parse_latency(const std::string& text) {
  if (text == "none" || text == "0") return 0;
  static const std::regex form(R"(([0-9]+(?:\.[0-9]+)?)(us|ms|s))");
  std::smatch m;
  if (std::regex_match(text, m, form)) {
    const double scale = m[2] == "us" ? 1e-6 : m[2] == "ms" ? 1e-3 : 1;
    const double s = std::stod(m[1]) * scale;
    if (s <= 10) return s;
  }
  throw Error(fmt::format("--latency '{}': expected a one-way delay of at most 10 s, written like 50us, "
                          "0.5ms or 2ms, or none",
                          text));
}

std::string describe_rate(double bps) {
  if (bps == 0) return "not shaped";
  if (bps >= 1e9) return fmt::format("{:g} Gbit/s", bps / 1e9);
  if (bps >= 1e6) return fmt::format("{:g} Mbit/s", bps / 1e6);
  return fmt::format("{:g} kbit/s", bps / 1e3);
}

std::string describe_latency(double s) {
  return s == 0 ? "none added" : fmt::format("{:g} us one way", s * 1e6);
}

// ---- running commands ----

struct Runner {
  bool dry_run = false;
  bool verbose = false;

  // Runs a command; throws with its output when it fails.
  std::string operator()(const Argv& argv) const {
    if (dry_run || verbose) std::printf("%s\n", join(argv).c_str());
    if (dry_run) return {};
    const CommandResult r = run_command(argv);
    if (r.exit_code != 0)
      throw Error(fmt::format("`{}` failed (exit code {}): {}", join(argv), r.exit_code, trim(r.output)));
    return r.output;
  }

  // Runs a command that may fail (while cleaning up); returns whether it succeeded.
  bool attempt(const Argv& argv) const {
    if (dry_run || verbose) std::printf("%s\n", join(argv).c_str());
    return dry_run || run_command(argv).exit_code == 0;
  }

  static std::string join(const Argv& argv) {
    std::string s;
    for (const auto& w : argv) s += (s.empty() ? "" : " ") + quote(w);
    return s;
  }

  // A word as a shell reads it back: as it is when it has nothing special, else in single quotes.
  static std::string quote(const std::string& w) {
    static const std::regex plain(R"([A-Za-z0-9_./:=@%+,-]+)");
    if (std::regex_match(w, plain)) return w;
    std::string q = "'";
    for (const char ch : w) q += ch == '\'' ? std::string("'\\''") : std::string(1, ch);
    return q + "'";
  }

  static std::string trim(std::string s) {
    while (!s.empty() && std::isspace((unsigned char)s.back())) s.pop_back();
    return s;
  }
};

// A command run as a daemon's start: its output goes to a log file (a daemon keeps it open, and a
// pipe to us would never reach its end).
Argv logged(const Argv& argv, const fs::path& log) {
  return {"sh", "-c", "exec " + Runner::join(argv) + " >>" + Runner::quote(log.string()) + " 2>&1"};
}

// Runs argv inside host h: its network namespace, and its own host name (as on its own machine).
Argv on_host(const std::string& h, const Argv& argv) {
  Argv a{"nsenter", "--net=/run/netns/" + h, "unshare", "--uts", "sh", "-c", "hostname \"$0\" && exec \"$@\"", h};
  a.insert(a.end(), argv.begin(), argv.end());
  return a;
}

bool on_path(const std::string& program) {
  return run_command({"sh", "-c", "command -v \"$0\"", program}).exit_code == 0;
}

// ---- the links ----

// tc commands that give host h's link its rate and latency, replacing what it had. Bandwidth is a
// token bucket on both ends: the uplink (host to bridge) and the bridge's port (bridge to host).
// Its burst is one frame plus what the link sends in 50 us: a timer that fires late (the kernel's
// timers run late by tens of microseconds on a busy machine) then loses no tokens, and the
// rate holds (measured: 98% of 1 Gbit/s with a 16 KB burst, 75% with a one-frame burst). Latency is
// netem's delay on the uplink only, so that it is counted once between two hosts.
std::vector<Argv> shape_commands(const Cluster& c, const std::string& h) {
  std::vector<Argv> cmds;
  // Start from the kernel's default queue (deleting a root qdisc that is already gone fails).
  cmds.push_back({"tc", "-n", h, "qdisc", "replace", "dev", "eth0", "root", "pfifo"});
  cmds.push_back({"tc", "qdisc", "replace", "dev", h, "root", "pfifo"});
  const std::string parent_uplink = c.latency_seconds > 0 ? "1:" : "";
  if (c.latency_seconds > 0)
    cmds.push_back({"tc", "-n", h, "qdisc", "replace", "dev", "eth0", "root", "handle", "1:", "netem", "delay",
                    fmt::format("{}us", std::llround(c.latency_seconds * 1e6)), "limit", "100000"});
  if (c.bandwidth_bps > 0) {
    const double bytes_per_s = c.bandwidth_bps / 8;
    const long long burst = c.mtu + 14 + std::llround(bytes_per_s * 50e-6);
    const long long limit = std::max(4 * burst, std::llround(bytes_per_s * 10e-3));  // 10 ms of queue
    const Argv tbf{"tbf", "rate", fmt::format("{}bit", std::llround(c.bandwidth_bps)), "burst", std::to_string(burst),
                   "limit", std::to_string(limit)};
    Argv up{"tc", "-n", h, "qdisc", "replace", "dev", "eth0"};
    if (c.latency_seconds > 0) up.insert(up.end(), {"parent", "1:", "handle", "2:"});
    else up.push_back("root");
    up.insert(up.end(), tbf.begin(), tbf.end());
    cmds.push_back(up);
    Argv down{"tc", "qdisc", "replace", "dev", h, "root"};
    down.insert(down.end(), tbf.begin(), tbf.end());
    cmds.push_back(down);
  }
  return cmds;
}

void shape(const Cluster& c, const Runner& run) {
  for (const auto& h : c.hosts) {
    for (const auto& cmd : shape_commands(c, h.name)) {
      try {
        run(cmd);
      } catch (const Error& e) {
        if (std::find(cmd.begin(), cmd.end(), "netem") != cmd.end())
          throw Error(fmt::format("{}\nThis kernel has no netem queueing discipline (CONFIG_NET_SCH_NETEM; "
                                  "`modprobe sch_netem` loads it where it is a module), so --latency cannot be "
                                  "added here: leave --latency out, and the links keep their own latency",
                                  e.what()));
        throw;
      }
    }
  }
}

// ---- Slurm ----

std::string slurm_conf_text(const Cluster& c) {
  const std::string d = c.dir().string();
  std::string s = fmt::format(
      "# slurm.conf of dtlab's virtual cluster '{0}', written by `dtlab cluster up --slurm`.\n"
      "# The controller listens on this machine's address on the bridge; each slurmd in its host's\n"
      "# namespace. No cgroups, accounting or other services: every file is in {1}.\n"
      "ClusterName={0}\n"
      "SlurmctldHost={0}-ctl({2})\n"
      "SlurmctldPort=16817\n"
      "SlurmdPort=16818\n"
      "AuthType=auth/munge\n"
      "AuthInfo=socket={1}/munge/munge.socket\n"
      "CredType=cred/munge\n"
      "SlurmUser=root\n"
      "SlurmdUser=root\n"
      "StateSaveLocation={1}/slurm/state\n"
      "SlurmdSpoolDir={1}/slurm/%n\n"
      // PMIx keeps its files in TmpFS: one folder per host, as each real host has its own /tmp.
      "TmpFS={1}/slurm/%n/tmp\n"
      "SlurmctldPidFile={1}/slurm/slurmctld.pid\n"
      "SlurmdPidFile={1}/slurm/%n/slurmd.pid\n"
      "SlurmctldLogFile={1}/slurm/slurmctld.log\n"
      "SlurmdLogFile={1}/slurm/%n/slurmd.log\n"
      "ProctrackType=proctrack/linuxproc\n"
      "TaskPlugin=task/none\n"
      "JobAcctGatherType=jobacct_gather/none\n"
      "AccountingStorageType=accounting_storage/none\n"
      "JobCompType=jobcomp/none\n"
      "SchedulerType=sched/builtin\n"
      "SelectType=select/cons_tres\n"
      "SelectTypeParameters=CR_Core\n"
      // The hosts share this machine's cores: each offers the CPUs given here, not what it detects.
      "SlurmdParameters=config_overrides\n"
      "MpiDefault=none\n"
      "ReturnToService=2\n",
      c.name, d, c.gateway());
  for (const auto& h : c.hosts)
    s += fmt::format("NodeName={} NodeAddr={} CPUs={} State=UNKNOWN\n", h.name, h.address, c.slots_per_host);
  s += fmt::format("PartitionName={} Nodes=ALL Default=YES MaxTime=INFINITE State=UP\n", c.name);
  return s;
}

// The daemons `up --slurm` starts, by their pid files.
std::vector<fs::path> daemon_pid_files(const Cluster& c) {
  std::vector<fs::path> files{c.dir() / "munge" / "munged.pid", c.dir() / "slurm" / "slurmctld.pid"};
  for (const auto& h : c.hosts) files.push_back(c.dir() / "slurm" / h.name / "slurmd.pid");
  return files;
}

pid_t read_pid(const fs::path& file) {
  std::ifstream in(file);
  long pid = 0;
  return (in >> pid) && pid > 1 ? pid_t(pid) : 0;
}

bool alive(pid_t pid) { return pid > 0 && kill(pid, 0) == 0; }

std::string log_tail(const fs::path& log) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::string s;
  for (std::size_t i = lines.size() > 5 ? lines.size() - 5 : 0; i < lines.size(); ++i) s += "\n    " + lines[i];
  return s.empty() ? " (empty)" : s;
}

// What --slurm needs of this machine (a dry run checks nothing: it only prints).
void check_slurm_can_start(const Cluster& c) {
  for (const char* program : {"munged", "mungekey", "slurmctld", "slurmd", "sinfo", "sbatch"})
    if (!on_path(program))
      throw Error(fmt::format("--slurm needs {}, which is not installed: apt-get install munge slurmctld slurmd "
                              "slurm-client (./dtlab setup installs them)",
                              program));
  for (const auto& other : fs::exists(program::clusters_root()) ? fs::directory_iterator(program::clusters_root())
                                                                 : fs::directory_iterator())
    if (other.path().filename() != c.name && fs::exists(other.path() / "slurm"))
      throw Error(fmt::format("cluster '{}' already runs Slurm on this machine's ports: one cluster at a time "
                              "may have Slurm (sudo dtlab cluster down --name {})",
                              other.path().filename().string(), other.path().filename().string()));
}

void start_slurm(const Cluster& c, const Runner& run) {
  const fs::path munge = c.dir() / "munge", slurm = c.dir() / "slurm";
  if (!run.dry_run) {
    // munged checks that its socket's folder can be entered by all, and that only it reads the key.
    fs::create_directories(munge);
    fs::permissions(munge, fs::perms(0755));
    fs::create_directories(slurm / "state");
    for (const auto& h : c.hosts) fs::create_directories(slurm / h.name / "tmp");
    write_file_atomic(c.slurm_conf(), slurm_conf_text(c));
  }
  run({"mungekey", "--create", "--keyfile", (munge / "munge.key").string()});
  run(logged({"munged", "--socket=" + (munge / "munge.socket").string(), "--key-file=" + (munge / "munge.key").string(),
              "--pid-file=" + (munge / "munged.pid").string(), "--log-file=" + (munge / "munged.log").string(),
              "--seed-file=" + (munge / "munged.seed").string()},
             munge / "munged.out"));
  // The controller's host name must be the one slurm.conf gives it.
  run(logged({"unshare", "--uts", "sh", "-c", "hostname \"$0\" && exec slurmctld -f \"$1\"", c.name + "-ctl",
              c.slurm_conf().string()},
             slurm / "slurmctld.out"));
  for (const auto& h : c.hosts)
    run(logged(on_host(h.name, {"slurmd", "-f", c.slurm_conf().string(), "-N", h.name}), slurm / h.name / "slurmd.out"));
  if (run.dry_run) return;
  // Ready when the controller reports every host idle.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  setenv("SLURM_CONF", c.slurm_conf().c_str(), 1);
  std::string states;
  while (std::chrono::steady_clock::now() < deadline) {
    const CommandResult r = run_command({"sinfo", "--noheader", "--Node", "--format=%N %T"});
    states = Runner::trim(r.output);
    std::istringstream in(states);
    int idle = 0;
    for (std::string node, state; in >> node >> state;) idle += state == "idle";
    if (r.exit_code == 0 && idle == int(c.hosts.size())) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  std::string logs = "\n  slurmctld.log:" + log_tail(slurm / "slurmctld.log");
  for (const auto& h : c.hosts) logs += fmt::format("\n  {}/slurmd.log:{}", h.name, log_tail(slurm / h.name / "slurmd.log"));
  throw Error(fmt::format("Slurm did not report every host idle within 30 s (sinfo: {}){}", states, logs));
}

// ---- up, down ----

struct UpOptions {
  std::string name = "dtlab";
  int hosts = 2;
  int slots = 0;
  std::string bandwidth = "1gbit", latency = "none", subnet = "10.210.0";
  int mtu = 9000;
  bool slurm = false, dry_run = false, verbose = false;
};

void check_name(const std::string& name) {
  // Interface names have at most 15 characters: NAME-br, NAME-h64.
  static const std::regex form("[a-z][a-z0-9]{0,9}");
  if (!std::regex_match(name, form))
    throw Error(fmt::format("--name '{}': expected 1 to 10 lower-case letters and digits, starting with a letter",
                            name));
}

void require_root(const char* what) {
  if (geteuid() != 0)
    throw Error(fmt::format("dtlab cluster {} needs root (it makes network namespaces, links and queueing "
                            "disciplines): run it with sudo",
                            what));
}

// The namespaces and root-side links that belong to cluster name (also those a failed up left).
std::vector<std::string> cluster_namespaces(const std::string& name) {
  const std::regex mine(name + "-h[0-9]+");
  std::vector<std::string> found;
  std::istringstream in(run_command({"ip", "netns", "list"}).output);
  for (std::string line; std::getline(in, line);) {
    const std::string ns = line.substr(0, line.find(' '));
    if (std::regex_match(ns, mine)) found.push_back(ns);
  }
  return found;
}

std::vector<std::string> cluster_links(const std::string& name) {
  const std::regex mine(name + "-(br|h[0-9]+)");
  std::vector<std::string> found;
  std::istringstream in(run_command({"ip", "-o", "link", "show"}).output);
  for (std::string line; std::getline(in, line);) {
    // "7: dtlab-h1@if6: <BROADCAST,...": the name ends at '@' or ':'.
    const auto start = line.find(": ") + 2;
    const std::string link = line.substr(start, line.find_first_of("@:", start) - start);
    if (std::regex_match(link, mine)) found.push_back(link);
  }
  return found;
}

// Removes everything of cluster name; returns what it could not remove.
std::vector<std::string> remove_cluster(const std::string& name, const Runner& run) {
  Cluster c;
  c.name = name;
  try {
    c = program::load_cluster(name);
  } catch (const Error&) {
    // a failed up: no record; the daemons' pid files, namespaces and links are found by name
    for (const auto& ns : cluster_namespaces(name)) c.hosts.push_back({ns, ""});
  }
  std::vector<std::string> left;
  // The daemons first (a slurmd holds its namespace), then whatever still runs on a host.
  std::vector<pid_t> stopping;
  for (const auto& file : daemon_pid_files(c))
    if (const pid_t pid = read_pid(file); alive(pid)) {
      if (run.verbose || run.dry_run) std::printf("kill %d  # %s\n", int(pid), file.c_str());
      if (!run.dry_run) kill(pid, SIGTERM);
      stopping.push_back(pid);
    }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (const pid_t pid : stopping) {
    while (!run.dry_run && alive(pid) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (!run.dry_run && alive(pid)) kill(pid, SIGKILL);
  }
  for (const auto& ns : cluster_namespaces(name)) {
    std::istringstream pids(run_command({"ip", "netns", "pids", ns}).output);
    for (long pid; pids >> pid;)
      if (!run.dry_run) kill(pid_t(pid), SIGKILL);
    run.attempt({"ip", "netns", "delete", ns});
  }
  // A namespace's end takes its link with it, a moment later: delete what is still there, then
  // report what outlived a few seconds.
  for (const auto& link : cluster_links(name)) run.attempt({"ip", "link", "delete", link});
  if (!run.dry_run) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while ((!cluster_namespaces(name).empty() || !cluster_links(name).empty()) &&
           std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (const auto& ns : cluster_namespaces(name)) left.push_back("namespace " + ns);
    for (const auto& link : cluster_links(name)) left.push_back("link " + link);
    for (const pid_t pid : stopping)
      if (alive(pid)) left.push_back(fmt::format("process {}", pid));
    std::error_code ec;
    fs::remove_all(c.dir(), ec);
    if (ec) left.push_back(fmt::format("folder {} ({})", c.dir().string(), ec.message()));
  }
  return left;
}

void up(const UpOptions& o) {
  check_name(o.name);
  if (!o.dry_run) require_root("up");
  static const std::regex subnet_form(R"((\d{1,3})\.(\d{1,3})\.(\d{1,3}))");
  std::smatch m;
  if (!std::regex_match(o.subnet, m, subnet_form) || std::stoi(m[1]) > 255 || std::stoi(m[2]) > 255 ||
      std::stoi(m[3]) > 255)
    throw Error(fmt::format("--subnet '{}': expected the first three numbers of a /24, like 10.210.0", o.subnet));
  Cluster c;
  c.name = o.name;
  c.subnet = o.subnet;
  c.bandwidth_bps = parse_rate(o.bandwidth);
  c.latency_seconds = parse_latency(o.latency);
  c.mtu = o.mtu;
  const int cores = int(sysconf(_SC_NPROCESSORS_ONLN));
  c.slots_per_host = o.slots > 0 ? o.slots : std::max(1, cores / o.hosts);
  c.slurm = o.slurm;
  for (int i = 1; i <= o.hosts; ++i) c.hosts.push_back({fmt::format("{}-h{}", o.name, i), fmt::format("{}.{}", o.subnet, i)});
  const Runner run{o.dry_run, o.verbose};

  if (!o.dry_run) {
    if (fs::exists(c.dir()) || !cluster_namespaces(c.name).empty() || !cluster_links(c.name).empty())
      throw Error(fmt::format("cluster '{0}' is already up (or a failed `up` left parts of it): `sudo dtlab "
                              "cluster status{1}` shows it, `sudo dtlab cluster down{1}` removes it",
                              c.name, c.name == "dtlab" ? "" : " --name " + c.name));
    for (const char* program : {"ip", "tc", "nsenter", "unshare", "mpirun"})
      if (!on_path(program))
        throw Error(fmt::format("dtlab cluster needs {}, which is not installed (iproute2, util-linux, openmpi-bin)",
                                program));
    if (c.slurm) check_slurm_can_start(c);
    const std::string addresses = run_command({"ip", "-o", "-4", "addr", "show"}).output;
    if (addresses.find(" " + c.subnet + ".") != std::string::npos)
      throw Error(fmt::format("this machine already has an address in {}: choose another --subnet", c.cidr()));
  }
  try {
    if (!o.dry_run) fs::create_directories(c.dir());
    run({"ip", "link", "add", c.bridge(), "type", "bridge"});
    run({"ip", "addr", "add", c.gateway() + "/24", "dev", c.bridge()});
    run({"ip", "link", "set", c.bridge(), "up"});
    for (const auto& h : c.hosts) {
      run({"ip", "netns", "add", h.name});
      run({"ip", "link", "add", h.name, "mtu", std::to_string(c.mtu), "type", "veth", "peer", "name", "eth0", "mtu",
           std::to_string(c.mtu), "netns", h.name});
      run({"ip", "link", "set", h.name, "master", c.bridge(), "up"});
      run({"ip", "-n", h.name, "addr", "add", h.address + "/24", "dev", "eth0"});
      run({"ip", "-n", h.name, "link", "set", "eth0", "up"});
      run({"ip", "-n", h.name, "link", "set", "lo", "up"});
    }
    shape(c, run);
    if (!o.dry_run) {
      std::string hostfile;
      for (const auto& h : c.hosts) hostfile += fmt::format("{} slots={}\n", h.name, c.slots_per_host);
      write_file_atomic(c.hostfile(), hostfile);
      std::string cases;
      for (const auto& h : c.hosts) cases += (cases.empty() ? "" : "|") + h.name;
      write_file_atomic(c.agent(), fmt::format(
          "#!/bin/sh\n"
          "# The launch agent of dtlab's virtual cluster '{0}': mpirun runs `agent HOST COMMAND...` as it would\n"
          "# run ssh. Like sshd on HOST, it runs COMMAND with a shell on that host: in its network namespace,\n"
          "# under its own host name.\n"
          "host=$1; shift\n"
          "case \"$host\" in\n"
          "  {1}) ;;\n"
          "  *) echo \"dtlab cluster agent: '$host' is not a host of cluster {0} ({1})\" >&2; exit 255 ;;\n"
          "esac\n"
          "exec nsenter --net=/run/netns/\"$host\" unshare --uts sh -c 'hostname \"$0\" && exec sh -c \"$1\"' \"$host\" \"$*\"\n",
          c.name, cases));
      fs::permissions(c.agent(), fs::perms(0755));
    }
    if (c.slurm) start_slurm(c, run);
    if (!o.dry_run) save_cluster(c);
  } catch (const Error&) {
    if (!o.dry_run) remove_cluster(c.name, Runner{});
    throw;
  }
  if (o.dry_run) return;
  std::printf("cluster '%s' is up: %zu hosts (%s), %d slot%s each; links %s each way, latency %s, MTU %d\n",
              c.name.c_str(), c.hosts.size(), fmt::format("{} to {}", c.hosts.front().address, c.hosts.back().address).c_str(),
              c.slots_per_host, c.slots_per_host > 1 ? "s" : "", describe_rate(c.bandwidth_bps).c_str(),
              describe_latency(c.latency_seconds).c_str(), c.mtu);
  const std::string flag = c.name == "dtlab" ? "--cluster" : "--cluster=" + c.name;
  std::printf("  dtlab train %s --ranks %d       dtlab bench pingpong %s\n", flag.c_str(), c.slots(), flag.c_str());
  if (c.slurm) std::printf("  export SLURM_CONF=%s   # then sinfo, srun, sbatch\n", c.slurm_conf().c_str());
  if (int(c.slots()) > cores)
    std::printf("note: %d slots on %d cores: ranks will share cores (mpirun gets mpi_yield_when_idle)\n", c.slots(), cores);
}

// ---- status ----

void status(const std::string& name) {
  std::vector<std::string> names;
  if (!name.empty()) names.push_back(name);
  else if (fs::exists(program::clusters_root()))
    for (const auto& e : fs::directory_iterator(program::clusters_root())) names.push_back(e.path().filename());
  if (names.empty()) {
    std::printf("no cluster is up (sudo dtlab cluster up --hosts 2 makes one)\n");
    return;
  }
  for (const auto& n : names) {
    const Cluster c = program::load_cluster(n);
    std::printf("cluster '%s': %zu hosts, %d slot%s each; links %s each way, latency %s, MTU %d\n", c.name.c_str(),
                c.hosts.size(), c.slots_per_host, c.slots_per_host > 1 ? "s" : "", describe_rate(c.bandwidth_bps).c_str(),
                describe_latency(c.latency_seconds).c_str(), c.mtu);
    const auto namespaces = cluster_namespaces(c.name);
    for (const auto& h : c.hosts) {
      const bool there = std::find(namespaces.begin(), namespaces.end(), h.name) != namespaces.end();
      std::printf("  %-10s %-15s %s\n", h.name.c_str(), h.address.c_str(), there ? "" : "MISSING: its namespace is gone");
    }
    std::printf("  this machine: %s on %s; files in %s\n", c.gateway().c_str(), c.bridge().c_str(), c.dir().c_str());
    if (c.slurm) {
      for (const auto& file : daemon_pid_files(c)) {
        const pid_t pid = read_pid(file);
        std::printf("  %-44s %s\n", fs::relative(file, c.dir()).c_str(),
                    alive(pid) ? fmt::format("pid {} running", pid).c_str() : "NOT RUNNING");
      }
      std::printf("  export SLURM_CONF=%s\n", c.slurm_conf().c_str());
    }
    std::string flags;
    for (const auto& w : c.mpirun_flags()) flags += " " + w;
    std::printf("  mpirun by hand: mpirun -np %d%s PROGRAM\n", c.slots(), flags.c_str());
  }
}

}  // namespace

void add_cluster(CLI::App& app, std::vector<std::unique_ptr<Command>>& cmds) {
  auto* cluster = app.add_subcommand("cluster", "A virtual cluster on this machine: hosts in network namespaces "
                                                "on shaped links, an MPI hostfile, and Slurm (root)");
  cluster->require_subcommand(1);
  auto add = [&](const char* name, const char* help) {
    auto& cmd = *cmds.emplace_back(std::make_unique<Command>());
    cmd.app = cluster->add_subcommand(name, help);
    cmd.uses_mpi = false;
    return &cmd;
  };
  {
    auto o = std::make_shared<UpOptions>();
    auto* cmd = add("up", "Make the hosts, their links, a hostfile and a launch agent (and Slurm)");
    auto* c = cmd->app;
    c->add_option("--name", o->name, "The cluster's name: its hosts are NAME-h1, NAME-h2, ...");
    c->add_option("--hosts", o->hosts, "Hosts")->check(CLI::Range(1, 64));
    c->add_option("--slots", o->slots, "Ranks each host may run (default: this machine's cores / hosts, at least 1)")
        ->check(CLI::Range(1, 256));
    c->add_option("--bandwidth", o->bandwidth, "Each link's rate, each way: 1gbit, 100mbit, 10gbit... or none");
    c->add_option("--latency", o->latency,
                  "One-way latency added between two hosts (netem): 50us, 1ms... or none (the links' own)");
    c->add_option("--mtu", o->mtu, "The links' MTU (9000: jumbo frames, as cluster networks use)")
        ->check(CLI::Range(1280, 65000));
    c->add_option("--subnet", o->subnet, "The /24 the hosts get addresses in: .1, .2, ... (this machine: .254)");
    c->add_flag("--slurm", o->slurm, "Also start munged, slurmctld and one slurmd per host");
    c->add_flag("--dry-run", o->dry_run, "Print the commands up would run; change nothing");
    c->add_flag("--verbose,-v", o->verbose, "Print each command as it runs");
    cmd->run = [o] {
      up(*o);
      return 0;
    };
  }
  {
    struct ShapeOptions {
      std::string name = "dtlab", bandwidth = "1gbit", latency = "none";
      bool dry_run = false, verbose = false;
    };
    auto o = std::make_shared<ShapeOptions>();
    auto* cmd = add("shape", "Change the links of a cluster that is up: bandwidth and latency");
    auto* c = cmd->app;
    c->add_option("--name", o->name, "The cluster");
    c->add_option("--bandwidth", o->bandwidth, "Each link's rate, each way: 1gbit, 100mbit, 10gbit... or none");
    c->add_option("--latency", o->latency, "One-way latency added between two hosts: 50us, 1ms... or none");
    c->add_flag("--dry-run", o->dry_run, "Print the tc commands; change nothing");
    c->add_flag("--verbose,-v", o->verbose, "Print each command as it runs");
    cmd->run = [o] {
      if (!o->dry_run) require_root("shape");
      Cluster c = program::load_cluster(o->name);
      c.bandwidth_bps = parse_rate(o->bandwidth);
      c.latency_seconds = parse_latency(o->latency);
      shape(c, Runner{o->dry_run, o->verbose});
      if (o->dry_run) return 0;
      save_cluster(c);
      std::printf("cluster '%s': links %s each way, latency %s\n", c.name.c_str(), describe_rate(c.bandwidth_bps).c_str(),
                  describe_latency(c.latency_seconds).c_str());
      return 0;
    };
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = add("status", "Show the clusters that are up: hosts, links, daemons, how to run on them");
    cmd->app->add_option("--name", *name, "Only this cluster");
    cmd->run = [name] {
      status(*name);
      return 0;
    };
  }
  {
    struct DownOptions {
      std::string name = "dtlab";
      bool dry_run = false, verbose = false;
    };
    auto o = std::make_shared<DownOptions>();
    auto* cmd = add("down", "Stop the cluster's daemons and remove its hosts, links and files");
    cmd->app->add_option("--name", o->name, "The cluster");
    cmd->app->add_flag("--dry-run", o->dry_run, "Print what down would remove; change nothing");
    cmd->app->add_flag("--verbose,-v", o->verbose, "Print each command as it runs");
    cmd->run = [o] {
      check_name(o->name);
      if (!o->dry_run) require_root("down");
      const bool was_up = fs::exists(program::clusters_root() / o->name) || !cluster_namespaces(o->name).empty() ||
                          !cluster_links(o->name).empty();
      const auto left = remove_cluster(o->name, Runner{o->dry_run, o->verbose});
      if (!left.empty()) {
        std::string what;
        for (const auto& l : left) what += "\n  " + l;
        throw Error(fmt::format("cluster '{}': could not remove:{}", o->name, what));
      }
      if (!o->dry_run)
        std::printf(was_up ? "cluster '%s' is down: no host, link, queue, daemon or file of it is left\n"
                           : "no cluster '%s' was up: nothing to remove\n",
                    o->name.c_str());
      return 0;
    };
  }
}

}  // namespace dtlab::cli
