// Formulas of problem set 18-checkpointing-at-scale: checkpointing at scale: sharded and resharding checkpoints, in-memory peer checkpoints, silent data corruption.
#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_checkpointing_formulas(std::vector<Formula>& v) {
  (void)v;
}

}  // namespace dtlab::detail
