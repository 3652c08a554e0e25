#include "dtlab/program/cluster.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "dtlab/error.hpp"
#include "dtlab/program/outputs.hpp"

namespace dtlab::program {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path clusters_root() { return "/run/dtlab/clusters"; }

fs::path Cluster::dir() const { return clusters_root() / name; }

std::vector<std::string> Cluster::mpirun_flags() const {
  std::vector<std::string> f{
      "--hostfile", hostfile().string(),
      // mpirun starts its daemon on each host through the agent, as it would through ssh.
      "--mca", "plm_rsh_agent", agent().string(),
      // Every host sees all of this machine's cores: binding would put each host's first rank on
      // core 0.
      "--bind-to", "none",
      // Daemons and ranks talk over the cluster's links, never over this machine's other networks.
      "--mca", "oob_tcp_if_include", cidr(), "--mca", "btl_tcp_if_include", cidr()};
  if (slots() > int(sysconf(_SC_NPROCESSORS_ONLN))) {
    // The hosts together have more slots than the machine has cores: waiting ranks must yield.
    f.insert(f.end(), {"--mca", "mpi_yield_when_idle", "1"});
  }
  return f;
}

Cluster load_cluster(const std::string& name) {
  Cluster c;
  c.name = name;
  const fs::path record = c.dir() / "cluster.json";
  std::ifstream in(record);
  if (!in)
    throw Error(fmt::format("no cluster '{}' is up (no {}): start one with `sudo dtlab cluster up{}`", name,
                            record.string(), name == "dtlab" ? "" : " --name " + name));
  try {
    const json j = json::parse(in);
    c.subnet = j.at("subnet").get<std::string>();
    for (const auto& h : j.at("hosts")) c.hosts.push_back({h.at("name"), h.at("address")});
    c.slots_per_host = j.at("slots_per_host");
    c.bandwidth_bps = j.at("bandwidth_bps");
    c.latency_seconds = j.at("latency_seconds");
    c.mtu = j.at("mtu");
    c.slurm = j.at("slurm");
  } catch (const json::exception& e) {
    throw Error(fmt::format("{} is not a cluster record: {}; remove the cluster with `sudo dtlab cluster "
                            "down --name {}`",
                            record.string(), e.what(), name));
  }
  return c;
}

void save_cluster(const Cluster& c) {
  json hosts = json::array();
  for (const auto& h : c.hosts) hosts.push_back({{"name", h.name}, {"address", h.address}});
  write_json_file((c.dir() / "cluster.json").string(),
                  json{{"name", c.name}, {"subnet", c.subnet}, {"hosts", hosts}, {"slots_per_host", c.slots_per_host},
                       {"bandwidth_bps", c.bandwidth_bps}, {"latency_seconds", c.latency_seconds}, {"mtu", c.mtu},
                       {"slurm", c.slurm}, {"mpirun_flags", c.mpirun_flags()}}
                      .dump(2));
}

}  // namespace dtlab::program
