// Formulas of problem set 19-data-evaluation-and-clusters: data input pipelines and storage, distributed evaluation of metrics, cluster schedulers.
#include "dtlab/formulas.hpp"

namespace dtlab::detail {

void add_operations_formulas(std::vector<Formula>& v) {
  (void)v;
}

}  // namespace dtlab::detail
