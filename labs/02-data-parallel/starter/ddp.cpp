// Lab 02: your data-parallel trainer. Replace every NotImplemented with your code; the handout
// (labs/02-data-parallel/README.md) walks through each part, and lab02/ddp.hpp states what each
// function must do.
#include <fmt/format.h>

#include "dtlab/async.hpp"
#include "dtlab/error.hpp"
#include "lab02/ddp.hpp"

namespace lab02 {

std::span<const std::int64_t> local_batch(std::span<const std::int64_t> global_batch, int rank,
                                          int world) {
  throw dtlab::NotImplemented("lab02::local_batch");
}

std::vector<Bucket> make_buckets(std::span<const dtlab::LayerSlice> layers, std::size_t bucket_bytes) {
  throw dtlab::NotImplemented("lab02::make_buckets");
}

// Whatever your strategy keeps between calls: a dtlab::CommWorker, the pending dtlab::Work of
// this step, counters... setup makes it (state_ = std::make_shared<State>()) and fills buckets_.
struct DistributedDataParallel::State {};

void DistributedDataParallel::setup(const Comm& comm, dtlab::Mlp& model) {
  throw dtlab::NotImplemented("lab02::DistributedDataParallel::setup");
}

void DistributedDataParallel::backward_begins(const Comm& comm, dtlab::Mlp& model, int micro,
                                              int micro_batches) {
  throw dtlab::NotImplemented("lab02::DistributedDataParallel::backward_begins");
}

void DistributedDataParallel::grad_ready(const Comm& comm, dtlab::Mlp& model, int layer) {
  throw dtlab::NotImplemented("lab02::DistributedDataParallel::grad_ready");
}

void DistributedDataParallel::step(const Comm& comm, dtlab::Mlp& model, dtlab::Optimizer& opt,
                                   const dtlab::StepInfo& info) {
  throw dtlab::NotImplemented("lab02::DistributedDataParallel::step");
}

void DistributedDataParallel::finish(const Comm& comm, dtlab::Mlp& model) {
  throw dtlab::NotImplemented("lab02::DistributedDataParallel::finish");
}

}  // namespace lab02
