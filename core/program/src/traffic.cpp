#include "dtlab/program/traffic.hpp"

#include "dtlab/baseline.hpp"
#include "dtlab/oplog.hpp"

namespace dtlab::program {

void reset_traffic() { OpLog::instance().clear(); }

Traffic busiest_rank_traffic(const Comm& world) {
  // Read before the allreduce below, which the counters would count.
  const Counters c = OpLog::instance().counters();
  double bytes[2] = {double(c.bytes_sent), double(c.collective_bytes)};
  baseline::allreduce(world, std::span<double>(bytes), ReduceOp::max);
  return {bytes[0], bytes[1]};
}

}  // namespace dtlab::program
