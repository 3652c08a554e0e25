// A virtual cluster on this machine, made by `dtlab cluster up`: hosts in network namespaces on a
// bridge, their links shaped by tc. Its record (cluster.json in the cluster's folder) says what
// programs need to start their ranks there (--cluster); the dtlab program's `cluster` command
// makes, reshapes and removes it.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dtlab::program {

struct ClusterHost {
  std::string name;     // the host name, the network namespace's name and the root side of its link
  std::string address;  // its IPv4 address on the cluster's bridge
};

struct Cluster {
  std::string name = "dtlab";
  std::string subnet = "10.210.0";  // a /24: hosts are .1, .2, ...; this machine is .254
  std::vector<ClusterHost> hosts;
  int slots_per_host = 1;       // ranks each host may run (the hostfile's slots, Slurm's CPUs)
  double bandwidth_bps = 0;     // bits per second of each link, each way; 0: not shaped
  double latency_seconds = 0;   // one way between two hosts, added on each host's uplink; 0: none
  int mtu = 9000;
  bool slurm = false;           // munged, slurmctld and one slurmd per host were started

  std::filesystem::path dir() const;  // its files: cluster.json, hostfile, agent, munge/, slurm/
  std::filesystem::path hostfile() const { return dir() / "hostfile"; }
  std::filesystem::path agent() const { return dir() / "agent"; }
  std::filesystem::path slurm_conf() const { return dir() / "slurm" / "slurm.conf"; }
  std::string bridge() const { return name + "-br"; }
  std::string gateway() const { return subnet + ".254"; }  // this machine's address on the bridge
  std::string cidr() const { return subnet + ".0/24"; }
  int slots() const { return slots_per_host * int(hosts.size()); }
  // What mpirun needs to place ranks on the hosts: the hostfile, the agent that starts them there,
  // and TCP on the cluster's network only.
  std::vector<std::string> mpirun_flags() const;
};

// Where every cluster's folder lives (/run/dtlab/clusters: gone at reboot, like the namespaces).
std::filesystem::path clusters_root();

// The cluster that `dtlab cluster up --name NAME` made; a clear error when none is up.
Cluster load_cluster(const std::string& name);

// Writes cluster.json (atomically): up writes it last, so a record means a complete cluster.
void save_cluster(const Cluster& c);

}  // namespace dtlab::program
