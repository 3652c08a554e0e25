// Formulas of problem set 11-sharded-data-parallel: FSDP and ZeRO in practice: sharded memory, prefetch, resharding, HSDP and device meshes.
#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_sharding_formulas(std::vector<Formula>& v) {
  (void)v;
}

}  // namespace dtlab::detail
