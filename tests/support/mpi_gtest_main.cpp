// main() for GoogleTest binaries that run under mpirun: every rank runs every test; rank 0 prints
// the usual report, the other ranks only their failures (prefixed with the rank), and the job
// fails when any rank fails (mpirun returns non-zero if any rank does).
#include <gtest/gtest.h>

#include <cstdio>

#include "dtlab/comm.hpp"
#include "dtlab/runtime.hpp"

namespace {

class RankFailurePrinter : public testing::EmptyTestEventListener {
 public:
  explicit RankFailurePrinter(int rank) : rank_(rank) {}
  void OnTestPartResult(const testing::TestPartResult& r) override {
    if (!r.failed()) return;
    std::fprintf(stderr, "[rank %d] %s:%d: Failure\n%s\n", rank_,
                 r.file_name() ? r.file_name() : "?", r.line_number(), r.summary());
  }
  void OnTestEnd(const testing::TestInfo& info) override {
    if (info.result()->Failed())
      std::fprintf(stderr, "[rank %d] FAILED %s.%s\n", rank_, info.test_suite_name(), info.name());
  }

 private:
  int rank_;
};

}  // namespace

int main(int argc, char** argv) {
  dtlab::Runtime runtime(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  const int rank = dtlab::Comm::world().rank();
  if (rank != 0) {
    auto& listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new RankFailurePrinter(rank));
  }
  return RUN_ALL_TESTS();
}
