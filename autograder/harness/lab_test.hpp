// Helpers for the labs' GoogleTest programs, which run on several MPI ranks.
#pragma once

#include <gtest/gtest.h>

#include <exception>
#include <functional>

#include "dtlab/comm.hpp"

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

}  // namespace dtlab::labtest
