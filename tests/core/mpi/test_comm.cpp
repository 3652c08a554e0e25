// Comm's point-to-point operations, their op log and counters, on real MPI ranks.
#include <gtest/gtest.h>

#include <numeric>
#include <optional>
#include <set>

#include "dtlab/baseline.hpp"
#include "dtlab/comm.hpp"
#include "dtlab/error.hpp"

namespace dtlab {
namespace {

Comm world() { return Comm::world(); }

void fresh_log() {
  world().barrier();
  OpLog::instance().set_enabled(true);
  OpLog::instance().clear();
}

TEST(Comm, RingSendrecvPassesEachRanksValueRight) {
  const Comm c = world();
  const int p = c.size(), r = c.rank();
  const std::vector<double> mine{double(r), r * 0.5};
  std::vector<double> got(2, -1);
  const Status s = c.sendrecv(std::span<const double>(mine), (r + 1) % p, std::span<double>(got),
                              (r + p - 1) % p, 3);
  const int left = (r + p - 1) % p;
  EXPECT_EQ(got[0], left);
  EXPECT_EQ(got[1], left * 0.5);
  EXPECT_EQ(s.source, left);
  EXPECT_EQ(s.tag, 3);
  EXPECT_EQ(s.bytes, 16u);
}

TEST(Comm, EveryElementTypeArrivesIntact) {
  const Comm c = world();
  if (c.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  auto check = [&](auto sample) {
    using T = decltype(sample);
    std::vector<T> v(5);
    if (c.rank() == 0) {
      std::iota(v.begin(), v.end(), sample);
      c.send(v, 1, 7);
    } else if (c.rank() == 1) {
      c.recv(std::span<T>(v), 0, 7);
      for (int i = 0; i < 5; ++i) EXPECT_EQ(v[i], T(sample + T(i)));
    }
  };
  check(std::uint8_t(250));
  check(std::int32_t(-3));
  check(std::int64_t(1) << 40);
  check(1.25f);
  check(-2.5);
}

TEST(Comm, AnySourceReceivesRecordWhoSent) {
  const Comm c = world();
  fresh_log();
  const int p = c.size();
  if (c.rank() == 0) {
    std::vector<std::vector<std::int32_t>> bufs(p - 1, std::vector<std::int32_t>(1));
    std::vector<Request> reqs;
    for (int i = 0; i < p - 1; ++i) reqs.push_back(c.irecv(std::span<std::int32_t>(bufs[i]), any_source, any_tag));
    c.wait_all(reqs);
    std::set<int> values, logged;
    for (const auto& b : bufs) values.insert(b[0]);
    for (const Op& op : OpLog::instance().data().ops)
      if (op.kind == OpKind::irecv) {
        logged.insert(op.peer);
        EXPECT_EQ(op.tag, op.peer + 100);  // the matched tag, not the wildcard
        EXPECT_EQ(op.bytes, 4u);
      }
    std::set<int> want;
    for (int r = 1; r < p; ++r) want.insert(r);
    EXPECT_EQ(values, want);
    EXPECT_EQ(logged, want);
    EXPECT_EQ(OpLog::instance().counters().messages_received, std::uint64_t(p - 1));
    for (const auto& r : reqs) EXPECT_FALSE(r.pending());
  } else {
    const std::vector<std::int32_t> v{c.rank()};
    c.send(v, 0, 100 + c.rank());
  }
}

TEST(Comm, CountersAndLogMatchWhatWasSent) {
  const Comm c = world();
  fresh_log();
  const int p = c.size(), r = c.rank();
  const std::vector<float> payload(1000 + r);
  std::vector<float> in(1000 + p);
  // Everyone sends one message to everyone else, non-blocking.
  std::vector<Request> reqs;
  for (int d = 0; d < p; ++d)
    if (d != r) reqs.push_back(c.isend(payload, d, 1));
  std::uint64_t expect_recv_bytes = 0;
  for (int s = 0; s < p; ++s)
    if (s != r) {
      const Status st = c.recv(std::span<float>(in), s, 1);
      EXPECT_EQ(st.bytes, 4u * (1000 + s));
      expect_recv_bytes += 4u * (1000 + s);
    }
  c.wait_all(reqs);
  const Counters& ct = OpLog::instance().counters();
  EXPECT_EQ(ct.messages_sent, std::uint64_t(p - 1));
  EXPECT_EQ(ct.bytes_sent, std::uint64_t(p - 1) * 4 * (1000 + r));
  EXPECT_EQ(ct.messages_received, std::uint64_t(p - 1));
  EXPECT_EQ(ct.bytes_received, expect_recv_bytes);
  std::uint64_t logged_sent = 0;
  for (const Op& op : OpLog::instance().data().ops)
    if (op.kind == OpKind::isend) logged_sent += op.bytes;
  EXPECT_EQ(logged_sent, ct.bytes_sent);
  OpLog::instance().clear();
  EXPECT_EQ(OpLog::instance().counters().bytes_sent, 0u);
}

TEST(Comm, SplitGivesSubCommunicatorsThatLogWorldRanks) {
  const Comm c = world();
  fresh_log();
  const int r = c.rank();
  const Comm half = c.split(r % 2, r);
  ASSERT_TRUE(half.valid());
  EXPECT_EQ(half.size(), (c.size() + 1 - r % 2) / 2);
  EXPECT_EQ(half.rank(), r / 2);
  EXPECT_EQ(half.world_rank(half.rank()), r);
  EXPECT_NE(half.id(), c.id());
  // A ring inside each half; the log must name world ranks.
  const int hp = half.size(), hr = half.rank();
  const std::vector<std::int32_t> out{r};
  std::vector<std::int32_t> in(1);
  half.sendrecv(std::span<const std::int32_t>(out), (hr + 1) % hp, std::span<std::int32_t>(in),
                (hr + hp - 1) % hp);
  EXPECT_EQ(in[0], half.world_rank((hr + hp - 1) % hp));
  const Op& op = OpLog::instance().data().ops.back();
  EXPECT_EQ(op.kind, OpKind::sendrecv);
  EXPECT_EQ(op.comm, half.id());
  EXPECT_EQ(op.peer, half.world_rank((hr + 1) % hp));
  EXPECT_EQ(op.recv_peer, in[0]);
  // Members agree on the id; the two halves differ.
  std::vector<std::int64_t> ids(std::size_t(c.size()));
  const std::vector<std::int64_t> mine{std::int64_t(half.id())};
  baseline::allgather(c, std::span<const std::int64_t>(mine), std::span<std::int64_t>(ids));
  for (int o = 0; o < c.size(); ++o) EXPECT_EQ(ids[o] == ids[r], o % 2 == r % 2) << "rank " << o;
  EXPECT_FALSE(c.split(-1, 0).valid());
}

TEST(Comm, MistakesAreErrorsThatSayWhat) {
  const Comm c = world();
  const std::vector<float> v(4);
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message([&] { c.send(v, c.size()); }).find("does not exist"), std::string::npos);
  EXPECT_NE(message([&] { c.send(v, 0, 40000); }).find("tag 40000 is out of range"), std::string::npos);
  Request idle;
  EXPECT_NE(message([&] { c.wait(idle); }).find("not pending"), std::string::npos);
  if (c.size() >= 2) {  // a receive buffer too small for the message
    std::vector<float> small(2);
    if (c.rank() == 0) c.send(v, 1, 9);
    if (c.rank() == 1) {
      EXPECT_NE(message([&] { c.recv(std::span<float>(small), 0, 9); }).find("longer than the receive buffer"),
                std::string::npos);
    }
  }
  c.barrier();
}

TEST(Comm, UnwaitedRequestIsCompletedByItsDestructor) {
  const Comm c = world();
  if (c.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  std::vector<std::int32_t> buf(1, -1);
  if (c.rank() == 1) {
    Request r = c.irecv(std::span<std::int32_t>(buf), 0, 5);
    // r goes out of scope pending: its destructor must wait rather than leave MPI writing into buf.
  }
  if (c.rank() == 0) c.send(std::vector<std::int32_t>{77}, 1, 5);
  if (c.rank() == 1) {
    EXPECT_EQ(buf[0], 77);
  }
  c.barrier();
}

TEST(Comm, ProbeGivesUpOnSilenceAndNamesTheMessageARecvThenTakes) {
  const Comm c = world();
  if (c.size() < 2) GTEST_SKIP() << "needs 2 ranks";
  fresh_log();
  if (c.rank() == 1) {
    // Rank 0 sends only after the barrier: until then the probe must time out, logging nothing.
    const double t0 = steady_seconds();
    EXPECT_FALSE(c.probe(any_source, any_tag, 0.05).has_value());
    EXPECT_GE(steady_seconds() - t0, 0.05);
    EXPECT_TRUE(OpLog::instance().data().ops.empty());
    c.barrier();
    const std::size_t logged = OpLog::instance().data().ops.size();
    const std::optional<Status> s = c.probe(any_source, any_tag, 60);
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->source, 0);
    EXPECT_EQ(s->tag, 6);
    EXPECT_EQ(s->bytes, 3 * sizeof(std::int32_t));
    EXPECT_EQ(OpLog::instance().data().ops.size(), logged) << "a probe logs nothing";
    std::vector<std::int32_t> buf(s->bytes / sizeof(std::int32_t));
    c.recv(std::span<std::int32_t>(buf), s->source, s->tag);
    EXPECT_EQ(buf, (std::vector<std::int32_t>{41, 42, 43}));
    EXPECT_THROW((void)c.probe(7 + c.size(), any_tag, 1), Error);
  } else {
    c.barrier();
    if (c.rank() == 0) c.send(std::vector<std::int32_t>{41, 42, 43}, 1, 6);
  }
  c.barrier();
}

}  // namespace
}  // namespace dtlab
