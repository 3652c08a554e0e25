// Formulas of problem set 17-activation-memory: activation checkpointing and offload policies.
#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_activations_formulas(std::vector<Formula>& v) {
  (void)v;
}

}  // namespace dtlab::detail
