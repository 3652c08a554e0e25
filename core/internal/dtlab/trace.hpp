// Timelines of a run in Chrome's trace-event JSON, which Perfetto (ui.perfetto.dev) and
// chrome://tracing open: one process track per rank, a "compute" and a "comm" thread in each, and
// an arrow from every send to the receive that matched it.
#pragma once

#include <filesystem>
#include <span>
#include <string>

#include "dtlab/costmodel.hpp"
#include "dtlab/oplog.hpp"

namespace dtlab {

enum class TraceClock {
  wall,   // what happened: measured times
  model,  // what the cost model says would happen: deterministic
};

// replay must come from the same logs; it supplies the message matching (and, for
// TraceClock::model, the times).
std::string chrome_trace(std::span<const RankLog> logs, const Replay& replay, TraceClock clock);
void write_chrome_trace(const std::filesystem::path& path, std::span<const RankLog> logs,
                        const Replay& replay, TraceClock clock);

}  // namespace dtlab
