// The dtlab program as users run it: outputs, files, exit codes and error messages.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "dtlab/allreduce_rules.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/gpu.hpp"
#include "dtlab/io.hpp"
#include "test_util.hpp"

namespace dtlab {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
  bool has(const std::string& s) const { return out.find(s) != std::string::npos; }
};

// env: assignments put before the command, e.g. "DTLAB_ALLREDUCE_RULES=r.txt".
Result run(const std::string& args, const test::TempDir& dir, const std::string& env = "") {
  const fs::path log = dir / "output.txt";
  const std::string cmd = "cd " + dir.path().string() + " && " + env + " " + DTLAB_BIN + " " + args +
                          " > " + log.string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  Result r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  r.out = read_file(log);
  return r;
}

json load(const fs::path& p) { return json::parse(read_file(p)); }

int count(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

const std::string kSmall = "--dataset synthetic --synthetic-samples 2048 --hidden 64 --batch 64 --lr 0.05 ";

TEST(CliTrain, WritesMetricsCheckpointsAndTimeline) {
  test::TempDir d;
  const Result r = run("train " + kSmall +
                       "--epochs 2 --json r.json --metrics m.csv --checkpoint-dir ck --trace t.json "
                       "--oplog o.json",
                       d);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(r.has("epoch 2/2")) << r.out;
  const json j = load(d / "r.json");
  for (const char* key : {"train_loss", "test_accuracy", "samples_per_sec", "ranks", "epochs",
                          "wall_seconds", "modeled_seconds"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["ranks"], 1);
  EXPECT_EQ(j["epochs"], 2);
  EXPECT_EQ(j["steps"], 64);  // 2048 / 64 per epoch
  EXPECT_GT(j["test_accuracy"].get<double>(), 0.8);
  EXPECT_LE(j["test_accuracy"].get<double>(), 1.0);
  EXPECT_GT(j["samples_per_sec"].get<double>(), 0.0);

  std::ifstream csv(d / "m.csv");
  std::string line;
  int lines = 0;
  std::getline(csv, line);
  EXPECT_EQ(line, "step,epoch,lr,loss,samples_per_sec,seconds");
  while (std::getline(csv, line)) ++lines;
  EXPECT_EQ(lines, 64);
  EXPECT_FALSE(fs::exists(d / "m.csv.partial"));

  EXPECT_TRUE(fs::exists(d / "ck" / "step-00000032.safetensors"));
  const fs::path last = d / "ck" / "step-00000064.safetensors";
  ASSERT_TRUE(fs::exists(last));
  EXPECT_EQ(j["last_checkpoint"], "ck/step-00000064.safetensors");
  if (std::system("python3 -c pass > /dev/null 2>&1") == 0) {
    const std::string cmd = std::string("python3 ") + DTLAB_SOURCE_DIR + "/tests/tools/safetensors_read.py " +
                            last.string() + " > " + (d / "st.json").string();
    ASSERT_EQ(std::system(cmd.c_str()), 0);
    const json st = load(d / "st.json");
    EXPECT_EQ(st["tensors"]["layers.0.weight"]["shape"], json({64, 784}));
    EXPECT_EQ(st["tensors"]["layers.1.bias"]["shape"], json({10}));
    EXPECT_EQ(st["metadata"]["step"], "64");
  }

  const json trace = load(d / "t.json");
  EXPECT_FALSE(trace["traceEvents"].empty());
  EXPECT_EQ(trace["otherData"]["clock"], "wall");
  const Result replayed = run("trace o.json -o t2.json", d);
  ASSERT_EQ(replayed.code, 0) << replayed.out;
  EXPECT_TRUE(replayed.has("modeled time")) << replayed.out;
  EXPECT_EQ(load(d / "t2.json")["otherData"]["clock"], "model");

  // Resuming from the last checkpoint with a third epoch continues at step 64.
  const Result resumed = run("train " + kSmall + "--epochs 3 --json r3.json --resume " + last.string(), d);
  ASSERT_EQ(resumed.code, 0) << resumed.out;
  EXPECT_EQ(load(d / "r3.json")["steps"], 96);
  EXPECT_EQ(load(d / "r3.json")["epochs"], 1);  // only the third epoch ran
}

TEST(CliTrain, StartsMpirunForSeveralRanks) {
  test::TempDir d;
  const Result r = run("train " + kSmall + "--epochs 1 --ranks 2 --json r.json --quiet", d);
  ASSERT_EQ(r.code, 0) << r.out;
  const json j = load(d / "r.json");
  EXPECT_EQ(j["ranks"], 2);
  EXPECT_EQ(j["strategy"], "allreduce");
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_EQ(j["hosts"], json::array({host, host}));  // where each rank ran
  EXPECT_EQ(j["samples"], 2048 / 64 * 64);
}

// Lab 02's reference behind --strategy ddp: the same training as one allreduce after backward
// (the same sums in another grouping), whatever the buckets, the overlap, the allreduce and the
// number of micro-batches; and it writes a timeline with its communication worker's track.
TEST(CliTrain, DdpTrainsLikeAllreduceWithAnyBucketsAndAccumulation) {
  test::TempDir d;
  ASSERT_EQ(run("train " + kSmall + "--epochs 2 --ranks 2 --json a.json --quiet", d).code, 0);
  const double want = load(d / "a.json")["train_loss"].get<double>();
  for (const std::string opts : {"--bucket-mb 0.01 --trace t.json", "--bucket-mb 25 --no-overlap",
                                 "--bucket-mb 0 --allreduce lab01 --micro-batches 4"}) {
    const Result r = run("train " + kSmall + "--epochs 2 --ranks 2 --strategy ddp --json d.json --quiet " + opts, d);
    ASSERT_EQ(r.code, 0) << opts << "\n" << r.out;
    const json j = load(d / "d.json");
    EXPECT_EQ(j["strategy"], "ddp");
    EXPECT_NEAR(j["train_loss"].get<double>(), want, 1e-4 * want) << opts;
  }
  EXPECT_NE(read_file(d / "t.json").find("comm worker"), std::string::npos) << "no communication worker track";
  const Result bad = run("train " + kSmall + "--epochs 1 --ranks 2 --strategy ddp --micro-batches 5 --quiet", d);
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(bad.has("5 micro-batches cannot split a local batch of 32 samples")) << bad.out;
}

// A lab's strategy is trained by the lab's own program, on the reference or on the working copy
// (--impl mine), with the options and outputs of dtlab train; on several ranks it reports its
// speedup over one process. In the instructor tree the working copy is the starter.
TEST(CliTrain, LabStrategiesRunTheLabsProgramOnEitherCode) {
  test::TempDir d;
  Result r = run("train " + kSmall + "--epochs 1 --ranks 2 --strategy ddp --json r.json", d);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(r.has("lab02_train_reference: ")) << r.out;
  EXPECT_TRUE(r.has("speedup ")) << r.out;
  const json j = load(d / "r.json");
  EXPECT_EQ(j["program"], "lab02_train_reference");
  EXPECT_GT(j["speedup"].get<double>(), 0);
  EXPECT_NEAR(j["speedup"].get<double>(), j["samples_per_sec"].get<double>() /
                                               j["one_process_samples_per_sec"].get<double>(), 1e-9);

  r = run("train " + kSmall + "--epochs 1 --ranks 2 --strategy ddp --impl mine", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("lab02_train_starter: ")) << r.out;
  EXPECT_TRUE(r.has("lab02::DistributedDataParallel::setup is not implemented yet")) << r.out;
  EXPECT_EQ(count(r.out, "error:"), 1) << r.out;

  // The lab's own options reach its program; its --help lists them.
  r = run("train --strategy ddp --help", d);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(r.has("--bucket-mb")) << r.out;
  r = run("bench allreduce --ranks 2 --max-bytes 64 --algo ring --impl mine", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("lab01::allreduce_ring is not implemented yet")) << r.out;
}

TEST(CliTrain, ParameterServerReportsStalenessAndGoesOnWithoutADeadWorker) {
  test::TempDir d;
  Result r = run("train " + kSmall + "--batch 48 --epochs 2 --ranks 4 --servers 1 --strategy ps-ssp --staleness 2 "
                 "--inject kill:rank=1,step=20 --worker-timeout 1 --json r.json", d);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(r.has("lab04_train_reference: ")) << r.out;
  EXPECT_TRUE(r.has("worker 1: dies at clock 20")) << r.out;
  EXPECT_TRUE(r.has("workers taken for dead: [1]")) << r.out;
  EXPECT_EQ(count(r.out, "epoch "), 2) << r.out;
  const json j = load(d / "r.json");
  EXPECT_EQ(j["servers"], 1);
  EXPECT_EQ(j["workers"], 3);
  EXPECT_EQ(j["dead_workers"], json::array({1}));
  EXPECT_EQ(j["staleness_bound"], 2);
  EXPECT_LE(j["staleness_histogram"].size(), 3u) << "no pull may miss more than 2 clocks";
  EXPECT_EQ(j["history"].size(), 2u);
  EXPECT_FALSE(j["accuracy_curve"].empty());

  r = run("train " + kSmall + "--batch 48 --epochs 1 --ranks 3 --strategy ps-bsp --impl mine", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("lab04_train_starter: ")) << r.out;
  EXPECT_TRUE(r.has("is not implemented yet")) << r.out;
  r = run("train " + kSmall + "--ranks 3 --servers 3 --strategy ps-bsp", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("a parameter server job of 3 ranks can have 1 to 2 servers, not 3")) << r.out;
  r = run("train " + kSmall + "--ranks 3 --strategy ps-asp --inject slow:rank=5,factor=2", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("rank 5 does not exist (expected 0 to 1)")) << r.out;
}

TEST(CliTrain, AsyncLocalSgdDiLoCoAndGossipReportTheirTraffic) {
  test::TempDir d;
  // Asynchronous SGD: rank 0 serves 2 workers; a gradient is at most 2 updates old on average.
  Result r = run("train " + kSmall + "--batch 48 --epochs 2 --ranks 3 --strategy async --staleness-aware --json a.json", d);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(r.has("lab05_train_reference: ")) << r.out;
  EXPECT_TRUE(r.has("2 workers, staleness-aware rate: ")) << r.out;
  EXPECT_EQ(count(r.out, "epoch "), 2) << r.out;
  json j = load(d / "a.json");
  std::int64_t updates = 0;
  for (const auto& c : j["staleness_histogram"]) updates += c.get<std::int64_t>();
  EXPECT_GT(updates, 0);
  EXPECT_GT(j["bytes_sent"].get<double>(), 0.0) << "the server sends the model after every update";
  // Local SGD averages every 4 steps: a quarter of synchronous SGD's collective payload (2048
  // samples in batches of 64: 32 steps).
  r = run("train " + kSmall + "--epochs 1 --ranks 2 --strategy local-sgd --sync-every 1 --json s.json", d);
  ASSERT_EQ(r.code, 0) << r.out;
  r = run("train " + kSmall + "--epochs 1 --ranks 2 --strategy local-sgd --sync-every 4 --json l.json", d);
  ASSERT_EQ(r.code, 0) << r.out;
  const double sync = load(d / "s.json")["collective_bytes"].get<double>();
  const double local = load(d / "l.json")["collective_bytes"].get<double>();
  EXPECT_GT(sync, 0.0);
  EXPECT_EQ(local * 4, sync) << "one allreduce of the model every 4 steps";
  r = run("train " + kSmall + "--batch 48 --epochs 1 --ranks 2 --strategy diloco --sync-every 8", d);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(r.has("diloco: every 8 steps")) << r.out;
  r = run("train " + kSmall + "--batch 48 --epochs 1 --ranks 3 --strategy gossip --topology torus --json g.json", d);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(r.has("gossip on a torus: every 1 steps")) << r.out;
  j = load(d / "g.json");
  EXPECT_EQ(j["collective_bytes"].get<double>(), 0.0) << "gossip uses no collective while it trains";
  EXPECT_GT(j["bytes_sent"].get<double>(), 0.0);

  r = run("train " + kSmall + "--batch 48 --epochs 1 --ranks 2 --strategy gossip --impl mine", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("lab05_train_starter: ")) << r.out;
  EXPECT_TRUE(r.has("is not implemented yet")) << r.out;
  r = run("train " + kSmall + "--ranks 2 --strategy local-sgd --inject kill:rank=1,step=3", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("Lab 05's methods do not survive a dead rank")) << r.out;
  r = run("train " + kSmall + "--ranks 1 --strategy async", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("--strategy async needs a server and at least one worker: --ranks 2 or more")) << r.out;
}

// The dtlab program holds no lab's code: every solution runs in its lab's program.
TEST(Cli, LinksNoLabsCode) {
  test::TempDir d;
  const std::string cmd = std::string("nm -C ") + DTLAB_BIN + " > " + (d / "nm.txt").string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string symbols = read_file(d / "nm.txt");
  ASSERT_NE(symbols.find("dtlab::"), std::string::npos) << "nm printed no dtlab symbols";
  std::smatch m;
  EXPECT_FALSE(std::regex_search(symbols, m, std::regex(R"(\blab[0-9][0-9]::)")))
      << "the dtlab program contains a lab's code: " << m.str();
}

TEST(CliTrain, RunsThroughAHostfileAndOverTcp) {
  // What a cluster run does, on one machine: mpirun with a hostfile, and MPI's TCP transport over
  // loopback instead of shared memory. The result must not depend on the transport.
  test::TempDir d;
  std::ofstream(d / "hosts") << "localhost slots=4\n";
  const Result shm = run("train " + kSmall + "--epochs 1 --ranks 2 --quiet --json shm.json --hostfile hosts", d);
  ASSERT_EQ(shm.code, 0) << shm.out;
  setenv("DTLAB_MPIRUN_ARGS", "--mca btl self,tcp --mca btl_tcp_if_include lo", 1);
  const Result tcp = run("train " + kSmall + "--epochs 1 --ranks 2 --quiet --json tcp.json", d);
  unsetenv("DTLAB_MPIRUN_ARGS");
  ASSERT_EQ(tcp.code, 0) << tcp.out;
  EXPECT_EQ(load(d / "shm.json")["ranks"], 2);
  EXPECT_EQ(load(d / "tcp.json")["test_accuracy"], load(d / "shm.json")["test_accuracy"]);
  EXPECT_EQ(load(d / "tcp.json")["train_loss"], load(d / "shm.json")["train_loss"]);
}

TEST(CliTrain, BadInputGetsOneClearError) {
  test::TempDir d;
  Result r = run("train --data-dir /nonexistent/fmnist --quiet", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("/nonexistent/fmnist/train-images-idx3-ubyte.gz")) << r.out;
  EXPECT_TRUE(r.has("dataset-fashion-mnist")) << r.out;

  // Every rank fails the same way: the message is printed once, not once per rank.
  r = run("train " + kSmall + "--ranks 2 --batch 5", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("must be a positive multiple of the number of ranks (2)")) << r.out;
  EXPECT_EQ(count(r.out, "error:"), 1) << r.out;

  r = run("train " + kSmall + "--strategy bogus", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("unknown strategy 'bogus'; known: auto, single, allreduce, and the labs': ddp (lab02)"))
      << r.out;

  r = run("train " + kSmall + "--strategy allreduce --impl mine", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("strategy 'allreduce' is dtlab's own")) << r.out;

  r = run("train " + kSmall + "--strategy ddp --impl yours", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("--impl yours: expected mine (your working copy) or reference")) << r.out;

  r = run("train " + kSmall + "--ranks 2 --strategy single", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("use --strategy allreduce")) << r.out;

  r = run("train --epochs 0", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("--epochs")) << r.out;

  r = run("train --resume missing.safetensors", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("missing.safetensors")) << r.out;

  r = run("train --schedule step", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("--lr-step-epochs")) << r.out;
}

TEST(CliTrain, ResumeChecksTheModel) {
  test::TempDir d;
  ASSERT_EQ(run("train " + kSmall + "--epochs 1 --quiet --checkpoint-dir ck", d).code, 0);
  const Result r = run("train --dataset synthetic --synthetic-samples 2048 --hidden 32 --batch 64 "
                       "--epochs 2 --resume ck/step-00000032.safetensors",
                       d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("holds a 784-64-10 model, but this run builds 784-32-10")) << r.out;
}

TEST(CliTrain, InsideAJobTheRankCountMustMatch) {
  test::TempDir d;
  const std::string cmd = std::string("mpirun -np 2 --oversubscribe ") + DTLAB_BIN + " train " +
                          kSmall + "--ranks 3";
  const std::string full = "cd " + d.path().string() + " && OMPI_ALLOW_RUN_AS_ROOT=1 "
                           "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 " + cmd + " > out.txt 2>&1";
  EXPECT_NE(std::system(full.c_str()), 0);
  const std::string out = read_file(d / "out.txt");
  EXPECT_NE(out.find("the job has 2 ranks but --ranks asks for 3"), std::string::npos) << out;
  // Without --ranks, the job's ranks are used.
  const std::string plain = "cd " + d.path().string() + " && OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                            "mpirun -np 2 --oversubscribe " + DTLAB_BIN + " train " + kSmall +
                            "--epochs 1 --json r.json --quiet > out.txt 2>&1";
  ASSERT_EQ(std::system(plain.c_str()), 0) << read_file(d / "out.txt");
  EXPECT_EQ(load(d / "r.json")["ranks"], 2);
}

TEST(CliBench, AllreduceReportsBusBandwidthAndChecksResults) {
  test::TempDir d;
  const Result r = run("bench allreduce --ranks 3 --max-bytes 64K --algo mpi,ring --json a.json", d);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(r.has("busbw")) << r.out;
  const json j = load(d / "a.json");
  EXPECT_EQ(j["ranks"], 3);
  ASSERT_EQ(j["results"].size(), 30u);  // 4 B .. 64 KiB, two algorithms
  for (const auto& row : j["results"]) {
    EXPECT_EQ(row["wrong"], 0);
    if (row["algo"] == "ring") {
      EXPECT_GT(row["time_vs_mpi"].get<double>(), 0.0);
    }
    EXPECT_NEAR(row["busbw_gbps"].get<double>(), row["algbw_gbps"].get<double>() * 4 / 3, 1e-9);
    EXPECT_NEAR(row["algbw_gbps"].get<double>(), row["bytes"].get<double>() / row["time_us"].get<double>() * 1e-3,
                1e-6 * row["algbw_gbps"].get<double>());
  }
}

TEST(CliBench, TuneWritesRulesThatTheReferenceAllreduceFollows) {
  test::TempDir d;
  const Result t = run("bench allreduce --ranks 2 --tune --max-bytes 1K --trials 1 --rules r.txt", d);
  ASSERT_EQ(t.code, 0) << t.out;
  EXPECT_TRUE(t.has("wrote r.txt")) << t.out;
  // mpirun has a --tune option of its own (a file of MCA parameters): ours must not reach it.
  EXPECT_FALSE(t.has("variable file")) << t.out;
  const auto tuned = AllreduceRules::load(d / "r.txt");
  ASSERT_FALSE(tuned.rules().empty()) << read_file(d / "r.txt");
  for (std::uint64_t bytes = 4; bytes <= 4096; bytes *= 2) EXPECT_TRUE(tuned.choose(2, bytes)) << bytes;
  EXPECT_FALSE(tuned.choose(4, 4)) << "only the rank count measured gets rules";

  // A table that picks an algorithm no fixed switch point would, at every size on 2 ranks: auto
  // must take it there, and keep its own choice on 3 ranks, which the table does not cover.
  write_file_atomic(d / "naive.txt", "2 - naive\n");
  for (int p : {2, 3}) {
    const Result a = run("bench allreduce --ranks " + std::to_string(p) +
                             " --algo auto --max-bytes 64K --trials 1 --json a.json",
                         d, "DTLAB_ALLREDUCE_RULES=naive.txt");
    ASSERT_EQ(a.code, 0) << a.out;
    for (const auto& row : load(d / "a.json")["results"]) {
      if (p == 2) EXPECT_EQ(row["chose"], "naive") << row;
      else EXPECT_NE(row["chose"], "naive") << row;
    }
  }
  write_file_atomic(d / "bad.txt", "2 - ring\n4 lots ring\n");
  const Result bad = run("bench allreduce --ranks 2 --algo auto --max-bytes 64", d, "DTLAB_ALLREDUCE_RULES=bad.txt");
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(bad.has("bad.txt:2:")) << bad.out;
  const Result missing = run("bench allreduce --ranks 2 --algo auto --max-bytes 64", d, "DTLAB_ALLREDUCE_RULES=none.txt");
  EXPECT_NE(missing.code, 0);
  EXPECT_TRUE(missing.has("none.txt: no such file")) << missing.out;
}

TEST(CliBench, PingpongFitsAndSavesACostModel) {
  test::TempDir d;
  const Result r = run("bench pingpong --max-bytes 64K --save-model m.toml --json p.json", d);
  ASSERT_EQ(r.code, 0) << r.out;
  const CostModel m = CostModel::load(d / "m.toml");
  EXPECT_GT(m.alpha, 0.0);
  EXPECT_LT(m.alpha, 1e-3);
  EXPECT_GT(m.gamma, 0.0);
  EXPECT_GT(m.flop_rate, 1e8);
  const json p = load(d / "p.json");
  ASSERT_EQ(p["sizes"].size(), 17u);  // 1 B .. 64 KiB
  // The two ends: the smallest message's one-way time and the largest's rate, as measured.
  EXPECT_DOUBLE_EQ(p["latency_smallest"].get<double>() * 1e6, p["sizes"][0]["latency_us"].get<double>());
  EXPECT_NEAR(p["bandwidth_largest"].get<double>() * 1e-9, p["sizes"][16]["bandwidth_gbps"].get<double>(), 1e-12);
  EXPECT_TRUE(r.has("ends: latency")) << r.out;
  const Result bad = run("bench allreduce --algo fastest", d);
  EXPECT_NE(bad.code, 0);
  EXPECT_TRUE(bad.has("unknown algorithm 'fastest'")) << bad.out;
  const Result one = run("bench pingpong --ranks 3", d);
  EXPECT_NE(one.code, 0);
  EXPECT_TRUE(one.has("exactly 2 ranks")) << one.out;
}

// What `cluster up` would run, without root: the links' shaping for every host (netem only with
// --latency, counted once: on the uplink), and clear refusals of bad settings. The cluster itself,
// made for real, is tested by tests/cluster (as root).
TEST(CliCluster, DryRunPrintsTheCommandsAndBadSettingsAreRefused) {
  test::TempDir d;
  const Result r = run("cluster up --dry-run --hosts 3 --bandwidth 10gbit --latency 50us --slurm", d);
  ASSERT_EQ(r.code, 0) << r.out;
  for (int h = 1; h <= 3; ++h) {
    const std::string host = "dtlab-h" + std::to_string(h);
    EXPECT_TRUE(r.has("ip netns add " + host + "\n")) << r.out;
    EXPECT_TRUE(r.has("tc -n " + host + " qdisc replace dev eth0 root handle 1: netem delay 50us")) << r.out;
    EXPECT_TRUE(r.has("tc -n " + host + " qdisc replace dev eth0 parent 1: handle 2: tbf rate 10000000000bit")) << r.out;
    EXPECT_TRUE(r.has("tc qdisc replace dev " + host + " root tbf rate 10000000000bit")) << r.out;
    EXPECT_TRUE(r.has("slurmd -f /run/dtlab/clusters/dtlab/slurm/slurm.conf -N " + host)) << r.out;
  }
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n') > 30, true);
  const Result plain = run("cluster up --dry-run --hosts 1 --bandwidth none", d);
  ASSERT_EQ(plain.code, 0) << plain.out;
  EXPECT_FALSE(plain.has("tbf")) << plain.out;
  EXPECT_FALSE(plain.has("netem")) << plain.out;
  const std::pair<const char*, const char*> bad[] = {
      {"cluster up --dry-run --bandwidth 1gb", "--bandwidth '1gb': expected a rate"},
      {"cluster up --dry-run --latency 5", "--latency '5': expected a one-way delay"},
      {"cluster up --dry-run --latency 20s", "--latency '20s': expected a one-way delay of at most 10 s"},
      {"cluster up --dry-run --name Big", "--name 'Big': expected 1 to 10 lower-case letters"},
      {"cluster up --dry-run --subnet 10.300.0", "--subnet '10.300.0': expected the first three numbers"},
      {"train --cluster=nosuch --ranks 2", "no cluster 'nosuch' is up"},
      {"bench pingpong --cluster=nosuch", "no cluster 'nosuch' is up"},
  };
  for (const auto& [args, message] : bad) {
    const Result e = run(args, d);
    EXPECT_NE(e.code, 0) << args;
    EXPECT_TRUE(e.has(message)) << args << "\n" << e.out;
  }
  std::ofstream(d / "hosts") << "localhost slots=2\n";
  const Result both = run("train --cluster --hostfile hosts", d);
  EXPECT_NE(both.code, 0);
  EXPECT_TRUE(both.has("excludes")) << both.out;
}

TEST(CliBench, TrainStepReportsMlpAndSgemmRates) {
  test::TempDir d;
  const Result r = run("bench train-step --hidden 64 --batch 32 --json s.json", d);
  ASSERT_EQ(r.code, 0) << r.out;
  const json j = load(d / "s.json");
  EXPECT_GT(j["mlp_gflops"].get<double>(), 0.0);
  EXPECT_GT(j["sgemm_gflops"].get<double>(), 0.0);
  EXPECT_NEAR(j["ratio"].get<double>(), j["mlp_gflops"].get<double>() / j["sgemm_gflops"].get<double>(), 1e-9);
  EXPECT_EQ(j["model"], "784-64-10");
  // Every SGEMM library is listed with its rates, the fastest is the one reported, and exactly
  // one is the library the layers run on.
  int linked = 0;
  double fastest = 0;
  for (const auto& lib : j["sgemm_libraries"]) {
    EXPECT_GT(lib["square_1024_gflops"].get<double>(), 0.0) << lib;
    EXPECT_GT(lib["mlp_products_gflops"].get<double>(), 0.0) << lib;
    fastest = std::max(fastest, lib["square_1024_gflops"].get<double>());
    if (lib["linked"].get<bool>()) {
      ++linked;
      EXPECT_EQ(lib["name"], j["gemm_library"]);
    }
  }
  EXPECT_EQ(linked, 1) << j["sgemm_libraries"];
  EXPECT_EQ(j["sgemm_gflops"].get<double>(), fastest);
  // Nothing runs faster than the core's peak: a wrong FLOP count or peak would show here, as a
  // factor of 2 or more. The 15% allows for a turbo clock that differs between the moment it was
  // measured and the moment the products ran (other tests load the other core).
  const double peak = j["core_peak_gflops"].get<double>() * 1.15;
#if defined(__x86_64__)
  EXPECT_GT(peak, 0.0);
#endif
  if (peak > 0) {
    EXPECT_LT(fastest, peak);
    EXPECT_LT(j["mlp_gflops"].get<double>(), peak);
    EXPECT_DOUBLE_EQ(j["core_peak_gflops"].get<double>(),
                     j["core_ghz"].get<double>() * j["core_flops_per_cycle"].get<int>());
  }
}

// --device cuda: on a GPU, training and the benchmarks run and agree with the CPU; without one,
// every command says so once and exits non-zero.
TEST(CliGpu, CudaRunsTrainOrFailClearly) {
  test::TempDir d;
  ASSERT_FALSE(gpu_required() && visible_gpus().empty()) << "DTLAB_REQUIRE_GPU=1 but no GPU is visible";
  if (!visible_gpus().empty()) {
    ASSERT_EQ(run("train " + kSmall + "--epochs 2 --json c.json --quiet", d).code, 0);
    for (const std::string ranks : {"1", "2"}) {
      const Result r = run("train " + kSmall + "--epochs 2 --device cuda --strategy ddp --ranks " + ranks +
                               " --json g.json --quiet", d);
      ASSERT_EQ(r.code, 0) << r.out;
      const json g = load(d / "g.json"), c = load(d / "c.json");
      EXPECT_EQ(g["device"], "cuda");
      EXPECT_NEAR(g["train_loss"].get<double>(), c["train_loss"].get<double>(), 1e-2);
      EXPECT_NEAR(g["test_accuracy"].get<double>(), c["test_accuracy"].get<double>(), 0.02);
    }
    const Result s = run("bench train-step --device cuda --batch 128 --json s.json", d);
    ASSERT_EQ(s.code, 0) << s.out;
    EXPECT_GT(load(d / "s.json")["mlp_tflops"].get<double>(), 0.0);
    const Result a = run("bench allreduce --device cuda --ranks 1 --max-bytes 1M --json a.json", d);
    ASSERT_EQ(a.code, 0) << a.out;
    for (const auto& row : load(d / "a.json")["results"]) EXPECT_EQ(row["wrong"], 0) << row;
    return;
  }
  // The lab programs too: Lab 02's DDP and Lab 03's tensor parallelism have GPU versions.
  for (const std::string& cmd : {"train " + kSmall + "--device cuda --ranks 2",
                                "train " + kSmall + "--device cuda --ranks 2 --strategy ddp",
                                "train " + kSmall + "--device cuda --ranks 2 --strategy tp",
                                std::string("bench train-step --device cuda"),
                                std::string("bench allreduce --device cuda --ranks 2")}) {
    const Result r = run(cmd, d);
    EXPECT_NE(r.code, 0) << cmd;
    EXPECT_EQ(count(r.out, "error"), 1) << cmd << "\n" << r.out;
    EXPECT_TRUE(r.has(built_with_cuda() ? "no CUDA device is visible" : "built without CUDA")) << cmd << "\n" << r.out;
  }
}

TEST(CliCalc, ListsEvaluatesAndExplainsMistakes) {
  test::TempDir d;
  Result r = run("calc", d);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(r.has("ring_allreduce_time")) << r.out;
  EXPECT_TRUE(r.has("pipeline_bubble_fraction")) << r.out;
  r = run("calc ring_allreduce_time p=8 bytes=1e9 alpha=5e-6 beta=1e-10", d);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(r.has("0.17507 s")) << r.out;
  r = run("calc pipeline_bubble_fraction p=4", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("missing parameter 'm'")) << r.out;
  write_file_atomic(d / "lines.txt", "pipeline_bubble_fraction p=4 m=16\n\nsign_bytes n=80\n");
  r = run("calc --batch < lines.txt", d);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "0.15789473684210525\n14\n");
  write_file_atomic(d / "bad.txt", "sign_bytes n=80\nsign_bytes\n");
  r = run("calc --batch < bad.txt", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("stdin line 2: sign_bytes: missing parameter 'n'")) << r.out;
  r = run("calc topk_bytes n=1M ratio=0.01", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("n = '1M' is not a number")) << r.out;
  // Arithmetic, with formulas called by name: what the problem sets' checks use.
  r = run("calc '2 * ring_allreduce_time(p=8, bytes=1e9, alpha=5e-6, beta=1e-10) / 1e-3'", d);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_TRUE(r.has("350.14")) << r.out;
  write_file_atomic(d / "mixed.txt", "ceil(60000/7)\nsign_bytes n=80\n2^10 - max(1, 24)\n");
  r = run("calc --batch < mixed.txt", d);
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "8572\n14\n1000\n");
  for (const char* bad : {"'1 +'", "'ring_allreduce_time(p=8)'", "'ring_allreduce_tyme(p=8)'", "'1/0'"}) {
    r = run(std::string("calc ") + bad, d);
    EXPECT_NE(r.code, 0) << bad;
    EXPECT_EQ(count(r.out, "error"), 1) << bad << "\n" << r.out;
  }
}

TEST(Cli, HelpInfoAndUnknownCommands) {
  test::TempDir d;
  Result r = run("--help", d);
  EXPECT_EQ(r.code, 0);
  for (const char* c : {"train", "bench", "trace", "demo", "info"}) EXPECT_TRUE(r.has(c)) << c;
  r = run("info", d);
  EXPECT_EQ(r.code, 0);
  EXPECT_TRUE(r.has("Open MPI")) << r.out;
  r = run("frobnicate", d);
  EXPECT_NE(r.code, 0);
  r = run("trace nothing.json", d);
  EXPECT_NE(r.code, 0);
  std::ofstream(d / "bad.json") << "{}";
  r = run("trace bad.json", d);
  EXPECT_NE(r.code, 0);
  EXPECT_TRUE(r.has("not a dtlab op log")) << r.out;
}

}  // namespace
}  // namespace dtlab
