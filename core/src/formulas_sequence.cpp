// Formulas of problem set 12-sequence-and-context-parallelism: sequence and context parallelism: ring attention, Ulysses all-to-all, activation memory per token.
#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_sequence_formulas(std::vector<Formula>& v) {
  (void)v;
}

}  // namespace dtlab::detail
