// Formulas of problem set 15-fabrics: collectives on real fabrics: NVSwitch, NVLS/SHARP, rail-optimised fat trees, NCCL protocols and channels, busbw.
#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_fabrics_formulas(std::vector<Formula>& v) {
  (void)v;
}

}  // namespace dtlab::detail
