// Formulas of problem set 13-expert-parallelism: expert parallelism: all-to-all cost, capacity factor, load balancing, EP x TP x DP layouts.
#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_experts_formulas(std::vector<Formula>& v) {
  (void)v;
}

}  // namespace dtlab::detail
