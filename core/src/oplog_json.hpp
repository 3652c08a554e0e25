// JSON form of a rank's op log, shared by save_oplogs and gather_logs. Internal to libdtlab.
#pragma once

#include <nlohmann/json.hpp>

#include "dtlab/oplog.hpp"

namespace dtlab {
nlohmann::json to_json(const RankLog& log);
RankLog rank_log_from_json(const nlohmann::json& j);
}  // namespace dtlab
