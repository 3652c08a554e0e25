// main() for GoogleTest programs that run on MPI ranks: dtlab's own tests and every lab's graded
// tests. Every rank runs every test. A test fails if it fails on any rank: after each test the
// ranks agree (on a communicator of their own, out of the submission's reach) and rank 0 reports
// the outcome with the ranks that failed. Rank 0 prints the usual report; the others print only
// their failures, prefixed with their rank. Under the grader (protocol.hpp) rank 0 also reports
// the results in the nonce-marked block, and checks that the world has the size asked for.
#include <gtest/gtest.h>
#include <mpi.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "dtlab/comm.hpp"
#include "dtlab/runtime.hpp"
#include "protocol.hpp"

namespace {

MPI_Comm g_agree = MPI_COMM_NULL;

class Agreement : public testing::EmptyTestEventListener {
 public:
  explicit Agreement(int rank) : rank_(rank) {}

  void OnTestStart(const testing::TestInfo&) override {
    message_.clear();
    failures_ = 0;
  }

  // The grader shows the first few failures of a test; one mistake often fails every p in a row.
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (!r.failed()) return;
    if (rank_ != 0)
      std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_, r.file_name() ? r.file_name() : "?",
                   r.line_number(), r.summary());
    if (++failures_ <= 3) message_ += std::string(r.summary()).substr(0, 700) + "\n";
  }

  void OnTestEnd(const testing::TestInfo& info) override {
    int size = 1;
    MPI_Comm_size(g_agree, &size);
    const int failed = info.result()->Failed() ? 1 : 0;
    std::vector<int> all(static_cast<std::size_t>(size));
    MPI_Gather(&failed, 1, MPI_INT, all.data(), 1, MPI_INT, 0, g_agree);
    if (rank_ != 0) {
      if (failed) std::fprintf(stderr, "[rank %d] FAILED %s.%s\n", rank_, info.test_suite_name(), info.name());
      return;
    }
    nlohmann::json ranks = nlohmann::json::array();
    for (int r = 0; r < size; ++r)
      if (all[r]) ranks.push_back(r);
    tests_.push_back({{"name", std::string(info.test_suite_name()) + "." + info.name()},
                      {"passed", ranks.empty()},
                      {"failed_on_ranks", ranks},
                      {"message", failures_ > 3 ? message_ + "(and " + std::to_string(failures_ - 3) +
                                                      " more failures on rank 0)" : message_},
                      {"milliseconds", info.result()->elapsed_time()}});
  }

  const nlohmann::json& tests() const { return tests_; }

 private:
  int rank_;
  std::string message_;
  int failures_ = 0;
  nlohmann::json tests_ = nlohmann::json::array();
};

}  // namespace

int main(int argc, char** argv) {
  dtlab::Runtime runtime(argc, argv);
  MPI_Comm_dup(MPI_COMM_WORLD, &g_agree);
  testing::InitGoogleTest(&argc, argv);
  const dtlab::Comm world = dtlab::Comm::world();
  auto& listeners = testing::UnitTest::GetInstance()->listeners();
  if (world.rank() != 0) delete listeners.Release(listeners.default_result_printer());
  auto* agreement = new Agreement(world.rank());
  listeners.Append(agreement);

  const int expected = dtlab::harness::expected_world_size();
  if (world.rank() == 0 && expected != 0 && expected != world.size()) {
    dtlab::harness::report(nlohmann::json{{"error", "the job has " + std::to_string(world.size()) +
                                                         " ranks; the grader asked for " +
                                                         std::to_string(expected)}}
                               .dump());
    dtlab::Runtime::abort(3);
  }
  const int rc = RUN_ALL_TESTS();
  int any_failed = 0;
  MPI_Allreduce(&rc, &any_failed, 1, MPI_INT, MPI_MAX, g_agree);
  if (world.rank() == 0)
    dtlab::harness::report(nlohmann::json{{"world_size", world.size()}, {"tests", agreement->tests()}}.dump());
  MPI_Comm_free(&g_agree);
  return any_failed ? 1 : 0;
}
