// Helpers for the labs' GoogleTest programs, which run on several MPI ranks.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "dtlab/comm.hpp"

// Skips a test that needs more ranks than the job has (CTest may run a lab's tests on fewer ranks
// than an item asks the grader for).
#define DTLAB_NEEDS_RANKS(ranks)                                                              \
  if (dtlab::Comm::world().size() < (ranks))                                                  \
  GTEST_SKIP() << "needs " << (ranks) << " ranks (the grader runs " << (ranks) << " or more)"

namespace dtlab::labtest {

// Runs body(comm) and turns an exception into a test failure, so that a rank that throws (the
// starter's "not implemented") still reaches the barrier the other ranks wait at.
inline void guarded(const std::function<void(const Comm&)>& body, const Comm& comm) {
  try {
    body(comm);
  } catch (const std::exception& e) {
    ADD_FAILURE() << e.what();
  }
}

// Runs body on communicators of every size p = 1 .. world size, made of the first p ranks (the
// others wait at a barrier). One mpirun thus tests every p; the world size is the largest.
inline void for_each_size(const std::function<void(const Comm&)>& body) {
  const Comm world = Comm::world();
  for (int p = 1; p <= world.size(); ++p) {
    const Comm sub = world.split(world.rank() < p ? 0 : -1, world.rank());
    if (sub.valid()) {
      SCOPED_TRACE(testing::Message() << "p=" << p << " rank=" << sub.rank());
      guarded(body, sub);
    }
    world.barrier();
  }
}

// Ends the whole job when a test runs past its deadline: a rank waiting for a message that never
// comes would otherwise hold every rank until the grader's timeout. The message says why.
class Watchdog {
 public:
  Watchdog(double seconds, std::string what, std::string why) : what_(std::move(what)), why_(std::move(why)) {
    thread_ = std::thread([this, seconds] {
      std::unique_lock lock(mutex_);
      if (!cv_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return done_; })) {
        std::fprintf(stderr, "\n%s did not finish in %.0f s: %s. Stopping the job.\n", what_.c_str(), seconds, why_.c_str());
        std::fflush(stderr);
        std::_Exit(3);
      }
    });
  }
  ~Watchdog() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::string what_, why_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

// A watchdog over every test of the program, each of which must finish in `seconds`; `why` says
// what a test that runs past it is probably waiting for. Returns true, to initialise a static.
inline bool watch_every_test(double seconds, std::string why) {
  class Listener : public testing::EmptyTestEventListener {
   public:
    Listener(double seconds, std::string why) : seconds_(seconds), why_(std::move(why)) {}
    void OnTestStart(const testing::TestInfo& t) override {
      dog_ = std::make_unique<Watchdog>(seconds_, std::string(t.test_suite_name()) + "." + t.name(), why_);
    }
    void OnTestEnd(const testing::TestInfo&) override { dog_.reset(); }

   private:
    double seconds_;
    std::string why_;
    std::unique_ptr<Watchdog> dog_;
  };
  testing::UnitTest::GetInstance()->listeners().Append(new Listener(seconds, std::move(why)));
  return true;
}

}  // namespace dtlab::labtest
