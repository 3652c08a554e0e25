// What a training run put on the wire, from the op log's per-rank counters (kept even when the
// log itself is off): the busiest rank's point-to-point bytes and its collectives' payload.
#pragma once

#include "dtlab/comm.hpp"

namespace dtlab::program {

struct Traffic {
  double p2p = 0;         // bytes of sends
  double collective = 0;  // payload handed to library collectives (MPI's own traffic is not seen)
  // Bytes on a rank's link, counting each collective as a ring allreduce of its payload: 2 (p - 1)
  // / p bytes out per payload byte.
  double wire(int p) const { return p2p + collective * 2.0 * (p - 1) / p; }
};

// Zeroes this rank's counters (and its op log); call on every rank where the run starts.
void reset_traffic();
// The max over world's ranks of each counter since reset_traffic(); collective over world.
Traffic busiest_rank_traffic(const Comm& world);

}  // namespace dtlab::program
