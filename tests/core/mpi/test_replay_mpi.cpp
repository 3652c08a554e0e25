// Logs of real runs: gathered from every rank and replayed, they give the closed forms.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "dtlab/baseline.hpp"
#include "dtlab/comm.hpp"
#include "dtlab/costmodel.hpp"
#include "dtlab/trace.hpp"

namespace dtlab {
namespace {

// The textbook ring allreduce on Comm, logging its reductions. Chunk c is
// [c*n/p, (c+1)*n/p), so n need not be divisible by p.
void ring_allreduce(const Comm& comm, std::span<float> data) {
  const int p = comm.size(), r = comm.rank();
  const std::size_t n = data.size();
  auto lo = [&](int c) { return n * std::size_t(c) / std::size_t(p); };
  std::vector<float> in(n / p + 1);
  const int right = (r + 1) % p, left = (r + p - 1) % p;
  for (int s = 0; s < p - 1; ++s) {
    const int send_c = (r - s + p) % p, recv_c = (r - s - 1 + p) % p;
    const auto out = data.subspan(lo(send_c), lo(send_c + 1) - lo(send_c));
    const std::size_t m = lo(recv_c + 1) - lo(recv_c);
    comm.sendrecv(std::span<const float>(out), right, std::span<float>(in).first(m), left);
    ComputeScope reduce("reduce", 0, m * sizeof(float));
    for (std::size_t i = 0; i < m; ++i) data[lo(recv_c) + i] += in[i];
  }
  for (int s = 0; s < p - 1; ++s) {
    const int send_c = (r + 1 - s + p) % p, recv_c = (r - s + p) % p;
    const auto out = data.subspan(lo(send_c), lo(send_c + 1) - lo(send_c));
    comm.sendrecv(std::span<const float>(out), right, data.subspan(lo(recv_c), lo(recv_c + 1) - lo(recv_c)), left);
  }
}

TEST(ReplayOfRealRuns, RingAllreduceGivesTheClosedForm) {
  const Comm c = Comm::world();
  const int p = c.size();
  // All the communication first, the checks after: a check that throws on rank 0 must not leave
  // the other ranks waiting in a collective that rank 0 skipped.
  std::vector<std::pair<std::size_t, std::vector<RankLog>>> runs;
  for (const std::size_t n : {std::size_t(p) * 1024, std::size_t(p) * 1024 + 3}) {
    std::vector<float> data(n);
    for (std::size_t i = 0; i < n; ++i) data[i] = float(c.rank() + int(i % 5));
    c.barrier();
    OpLog::instance().set_enabled(true);
    OpLog::instance().clear();
    ring_allreduce(c, data);
    runs.emplace_back(n, gather_logs());
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < n; ++i) wrong += data[i] != float(p * (p - 1) / 2 + p * int(i % 5));
    EXPECT_EQ(wrong, 0u) << "elements of the allreduce differ from the serial sum, n=" << n;
  }
  if (c.rank() != 0) return;
  const CostModel m{.alpha = 5e-6, .beta = 3e-10, .gamma = 1e-10, .flop_rate = 1e10};
  for (const auto& [n, logs] : runs) {
    SCOPED_TRACE(testing::Message() << "p=" << p << " n=" << n);
    ASSERT_EQ(logs.size(), std::size_t(p));
    for (int r = 0; r < p; ++r) EXPECT_EQ(logs[r].rank, r);
    const Replay rep = replay(logs, m);
    if (n % p == 0) {
      EXPECT_NEAR(rep.makespan, ring_allreduce_cost(p, double(n * sizeof(float)), m), 1e-12);
    } else {  // uneven chunks: between the closed forms of the smaller and the larger chunk
      EXPECT_GE(rep.makespan, ring_allreduce_cost(p, double(n / p * p * sizeof(float)), m) - 1e-12);
      EXPECT_LE(rep.makespan, ring_allreduce_cost(p, double((n / p + 1) * p * sizeof(float)), m) + 1e-12);
    }
    EXPECT_EQ(rep.messages.size(), std::size_t(2 * p * (p - 1)));
    // Bytes per rank: 2(p-1)/p * n elements, give or take one per chunk.
    for (const auto& log : logs) {
      const double sent = double(log.counters.bytes_sent) / sizeof(float);
      EXPECT_NEAR(sent, 2.0 * (p - 1) / p * double(n), 2.0 * (p - 1));
    }
    // The wall-clock timeline of the same run is valid trace JSON with a track per rank.
    const auto doc = nlohmann::json::parse(chrome_trace(logs, rep, TraceClock::wall));
    int tracks = 0;
    for (const auto& e : doc.at("traceEvents")) tracks += e.at("ph") == "M" && e.at("name") == "process_name";
    EXPECT_EQ(tracks, p);
  }
}

TEST(ReplayOfRealRuns, BaselineAllreduceIsPricedAsACollective) {
  const Comm c = Comm::world();
  c.barrier();
  OpLog::instance().set_enabled(true);
  OpLog::instance().clear();
  std::vector<double> v(4096, 1.0);
  baseline::allreduce(c, std::span<double>(v));
  const auto logs = gather_logs();
  if (c.rank() != 0) return;
  const CostModel m;
  EXPECT_NEAR(replay(logs, m).makespan, collective_cost("allreduce", c.size(), 4096 * 8.0, m), 1e-15);
}

}  // namespace
}  // namespace dtlab
