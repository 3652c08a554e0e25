// The parts of Lab 02 that are given to students (not to implement).
#include "dtlab/baseline.hpp"
#include "lab02/ddp.hpp"

namespace lab02 {

void library_allreduce(const Comm& comm, std::span<float> data) { dtlab::baseline::allreduce(comm, data); }

void library_broadcast(const Comm& comm, std::span<float> data, int root) {
  dtlab::baseline::broadcast(comm, data, root);
}

}  // namespace lab02
