// Lab 02: data parallelism, built the way PyTorch's DistributedDataParallel (DDP) does it.
//
// Every rank holds a full replica of the model and trains it on its own shard of each global
// batch; after backward the gradients are averaged over the ranks, so every replica takes the
// same step that one process would take on the whole global batch. What makes it fast:
//   - gradients are grouped into buckets (a few large allreduces instead of one per tensor), and
//   - each bucket's allreduce starts as soon as its gradients are final, on a communication
//     thread, while backward goes on computing the earlier layers' gradients.
//
// You implement local_batch, make_buckets and the DistributedDataParallel class's setup,
// backward_begins, grad_ready, step and finish, with the State they keep (ddp.cpp, the only file
// you hand in); its constructor, destructor and buckets() are given. The handout (labs/02-data-parallel/README.md) explains each part.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "dtlab/comm.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/optim.hpp"
#include "dtlab/train.hpp"

namespace lab02 {

using dtlab::Comm;

// ---- Part 1: sharding the data ----

// This rank's share of one global batch (a list of sample indices, the same on every rank):
// rank r of p takes the r-th of p contiguous, equal blocks. Throws dtlab::Error if p does not
// divide the batch. (dtlab::DistributedSampler does the same for the trainer.)
std::span<const std::int64_t> local_batch(std::span<const std::int64_t> global_batch, int rank,
                                          int world);

// ---- Part 2: buckets ----

// A run of whole layers whose gradients are allreduced together. Layers are contiguous in the
// flat gradient buffer, so a bucket is one range [begin, end) of Mlp::grads().
struct Bucket {
  std::size_t begin = 0;  // element offsets into Mlp::grads()
  std::size_t end = 0;
  int first_layer = 0;    // it holds layers first_layer .. last_layer (first_layer <= last_layer)
  int last_layer = 0;
  std::size_t bytes() const { return (end - begin) * sizeof(float); }
  bool operator==(const Bucket&) const = default;
};

// Groups the layers into buckets in the order backward finishes them: the last layer first, as
// PyTorch DDP fills buckets in reverse parameter order. Walking from the last layer to the first,
// a layer joins the current bucket; once the bucket holds at least bucket_bytes it is closed and
// the next layer starts a new one. So every bucket but the last reaches bucket_bytes, and
// bucket_bytes = 0 gives one bucket per layer. buckets[0] holds the last layer.
std::vector<Bucket> make_buckets(std::span<const dtlab::LayerSlice> layers, std::size_t bucket_bytes);

// ---- Part 3: DDP ----

// An in-place sum over the ranks of comm: what a bucket's allreduce calls.
using AllreduceFn = std::function<void(const Comm&, std::span<float>)>;

// Given: the library's collectives (MPI_Allreduce, MPI_Bcast), the ones you may use here. Any
// allreduce on Comm fits AllreduceFn: `dtlab train --strategy ddp --allreduce lab01` runs the
// buckets on Lab 01's allreduce of the same --impl (with --impl mine, yours).
void library_allreduce(const Comm& comm, std::span<float> data);
void library_broadcast(const Comm& comm, std::span<float> data, int root);

struct DdpOptions {
  std::size_t bucket_bytes = std::size_t(25) << 20;  // PyTorch's default, bucket_cap_mb = 25
  // Start each bucket's allreduce during backward, as soon as its gradients are final. false
  // starts them all after backward, for comparison: same result, no overlap.
  bool overlap = true;
  AllreduceFn allreduce = library_allreduce;
};

// The strategy (dtlab/train.hpp) that dtlab::train and `dtlab train --strategy ddp` call:
//   setup            once: every replica starts from rank 0's parameters; the buckets are made;
//                    a dtlab::CommWorker (dtlab/async.hpp) is started for the allreduces
//   backward_begins  before each backward pass; of a step's micro-batches only the last one
//                    communicates (gradients accumulate locally before it, like DDP's no_sync)
//   grad_ready       during backward, when a layer's gradients are final: start its bucket's
//                    allreduce once all of the bucket's layers are final
//   step             wait for the allreduces, then the optimizer step with the average gradient
//   finish           this rank has no more batches: if other ranks still do, every rank must get
//                    a dtlab::Error saying so, never a hang
// Every rank must issue the same allreduces in the same order.
class DistributedDataParallel final : public dtlab::Strategy {
 public:
  explicit DistributedDataParallel(DdpOptions options = {}) : options_(std::move(options)) {}
  ~DistributedDataParallel() override = default;  // frees state_, whatever State holds

  std::string_view name() const override { return "ddp"; }
  void setup(const Comm& comm, dtlab::Mlp& model) override;
  void backward_begins(const Comm& comm, dtlab::Mlp& model, int micro, int micro_batches) override;
  void grad_ready(const Comm& comm, dtlab::Mlp& model, int layer) override;
  void step(const Comm& comm, dtlab::Mlp& model, dtlab::Optimizer& opt,
            const dtlab::StepInfo& info) override;
  void finish(const Comm& comm, dtlab::Mlp& model) override;

  const DdpOptions& options() const { return options_; }
  // The buckets setup made (empty before).
  const std::vector<Bucket>& buckets() const { return buckets_; }

 private:
  // Yours: define it in ddp.cpp with whatever the strategy keeps between calls (a CommWorker, the
  // step's pending Work...), and make it in setup: state_ = std::make_shared<State>(). A
  // shared_ptr, so that the destructor above can free it without knowing what it holds.
  struct State;
  DdpOptions options_;
  std::vector<Bucket> buckets_;  // setup fills it: buckets() returns it
  std::shared_ptr<State> state_;
};

}  // namespace lab02
