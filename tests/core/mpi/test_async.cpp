// The communication worker on real ranks: jobs run in order on their own communicator, errors come
// back at wait, and the op log puts each job's traffic on the worker's lane.
#include <gtest/gtest.h>

#include <numeric>
#include <stdexcept>

#include "dtlab/async.hpp"
#include "dtlab/baseline.hpp"
#include "dtlab/costmodel.hpp"

namespace dtlab {
namespace {

TEST(CommWorker, JobsRunInSubmissionOrderAndComputeTheRightSums) {
  const Comm world = Comm::world();
  const int p = world.size(), r = world.rank();
  CommWorker worker(world);
  EXPECT_EQ(worker.comm().size(), p);
  EXPECT_EQ(worker.comm().rank(), r);
  std::vector<std::vector<float>> bufs(5, std::vector<float>(1000));
  std::vector<int> order;
  std::vector<Work> work;
  for (int j = 0; j < 5; ++j) {
    std::fill(bufs[j].begin(), bufs[j].end(), float(r + j));
    work.push_back(worker.submit([&, j](const Comm& c) {
      baseline::allreduce(c, std::span<float>(bufs[j]));
      order.push_back(j);  // only the worker thread writes it, one job at a time
    }));
  }
  for (auto& w : work) worker.wait(w);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  for (int j = 0; j < 5; ++j)
    EXPECT_EQ(bufs[j][0], float(p * (p - 1) / 2 + p * j)) << "job " << j;
  EXPECT_FALSE(work[0].pending());
  EXPECT_THROW(worker.wait(work[0]), Error);
}

TEST(CommWorker, AJobsExceptionComesBackAtItsWait) {
  CommWorker worker(Comm::world());
  Work w = worker.submit([](const Comm&) { throw std::runtime_error("bucket 3 failed"); });
  try {
    worker.wait(w);
    FAIL() << "wait did not rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "bucket 3 failed");
  }
  Work ok = worker.submit([](const Comm& c) { c.barrier(); });  // the worker still runs jobs
  worker.wait(ok);
}

TEST(CommWorker, ItsMessagesNeverMatchTheProgramsAndLandOnItsLane) {
  const Comm world = Comm::world();
  const int p = world.size(), r = world.rank();
  if (p < 2) GTEST_SKIP() << "needs two ranks";
  auto& log = OpLog::instance();
  CommWorker worker(world);
  world.barrier();
  log.clear();
  // The program and the worker both exchange with the same peers and tag at the same time.
  std::vector<std::int32_t> mine(4, r), theirs(4, -1), wmine(4, 100 + r), wtheirs(4, -1);
  Work w = worker.submit([&](const Comm& c) {
    c.sendrecv(std::span<const std::int32_t>(wmine), (r + 1) % p, std::span<std::int32_t>(wtheirs),
               (r + p - 1) % p);
  });
  world.sendrecv(std::span<const std::int32_t>(mine), (r + 1) % p, std::span<std::int32_t>(theirs),
                 (r + p - 1) % p);
  worker.wait(w);
  EXPECT_EQ(theirs[0], (r + p - 1) % p);
  EXPECT_EQ(wtheirs[0], 100 + (r + p - 1) % p);
  int worker_ops = 0, job_ops = 0;
  for (const Op& op : log.data().ops) {
    if (op.kind == OpKind::sendrecv) worker_ops += op.lane > 0;
    if (op.kind == OpKind::job_begin || op.kind == OpKind::job_end) {
      EXPECT_GT(op.lane, 0);
      ++job_ops;
    }
    if (op.kind == OpKind::job_post || op.kind == OpKind::wait) {
      EXPECT_EQ(op.lane, 0);
    }
  }
  EXPECT_EQ(worker_ops, 1);
  EXPECT_EQ(job_ops, 2);
  const auto logs = gather_logs();
  if (r == 0) {
    EXPECT_NO_THROW(replay(logs, CostModel{}));
  }
}

}  // namespace
}  // namespace dtlab
