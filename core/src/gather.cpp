#include <mpi.h>

#include "comm_impl.hpp"
#include "oplog_json.hpp"

namespace dtlab {

std::vector<RankLog> gather_logs() {
  const auto& c = CommAccess::impl(Comm::world());
  // CBOR: the same fields as the JSON file, a third of the size on the wire.
  const std::vector<std::uint8_t> mine = nlohmann::json::to_cbor(to_json(OpLog::instance().data()));
  int len = static_cast<int>(mine.size());
  std::vector<int> lens(c.size), displs(c.size);
  check_mpi(MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, c.comm), "MPI_Gather");
  int total = 0;
  for (int r = 0; r < c.size; ++r) displs[r] = std::exchange(total, total + lens[r]);
  std::vector<std::uint8_t> all(c.rank == 0 ? total : 0);
  check_mpi(MPI_Gatherv(mine.data(), len, MPI_UINT8_T, all.data(), lens.data(), displs.data(),
                        MPI_UINT8_T, 0, c.comm),
            "MPI_Gatherv");
  std::vector<RankLog> logs;
  if (c.rank != 0) return logs;
  for (int r = 0; r < c.size; ++r) {
    const auto first = all.begin() + displs[r];
    logs.push_back(rank_log_from_json(nlohmann::json::from_cbor(first, first + lens[r])));
  }
  return logs;
}

}  // namespace dtlab
