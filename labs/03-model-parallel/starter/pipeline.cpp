// Lab 03, Parts 2 to 4: pipeline schedules, the executor, data x pipeline parallelism. Replace
// every NotImplemented with your code; the handout (labs/03-model-parallel/README.md) walks
// through each part, and lab03/model_parallel.hpp states what each function must do.
#include <fmt/format.h>

#include "dtlab/error.hpp"
#include "lab03/model_parallel.hpp"

namespace lab03 {

Schedule gpipe(int stages, int micro_batches) { throw dtlab::NotImplemented("lab03::gpipe"); }

Schedule one_f_one_b(int stages, int micro_batches) { throw dtlab::NotImplemented("lab03::one_f_one_b"); }

Schedule interleaved_1f1b(int stages, int micro_batches, int chunks) {
  throw dtlab::NotImplemented("lab03::interleaved_1f1b");
}

// What run keeps between actions (activations and gradients received, send buffers, pending
// requests...): run makes it (state_ = std::make_shared<State>()).
struct Pipeline::State {};

float Pipeline::run(std::span<const Action> actions, int micro_batches, std::span<const float> x,
                    std::span<const std::int32_t> labels) {
  throw dtlab::NotImplemented("lab03::Pipeline::run");
}

void Pipeline::step(double lr, const Comm* data, const AllreduceFn& allreduce) {
  throw dtlab::NotImplemented("lab03::Pipeline::step");
}

}  // namespace lab03
