// Lab 02 reference: data parallelism with gradient buckets that overlap backward.
#include <fmt/format.h>

#include "dtlab/async.hpp"
#include "dtlab/error.hpp"
#include "lab02/ddp.hpp"

namespace lab02 {

std::span<const std::int64_t> local_batch(std::span<const std::int64_t> global_batch, int rank,
                                          int world) {
  if (world <= 0 || rank < 0 || rank >= world)
    throw dtlab::Error(fmt::format("local_batch: rank {} of {} does not exist", rank, world));
  if (global_batch.size() % std::size_t(world) != 0)
    throw dtlab::Error(fmt::format("local_batch: a global batch of {} samples does not split evenly "
                                   "over {} ranks",
                                   global_batch.size(), world));
  const std::size_t n = global_batch.size() / std::size_t(world);
  return global_batch.subspan(std::size_t(rank) * n, n);
}

std::vector<Bucket> make_buckets(std::span<const dtlab::LayerSlice> layers, std::size_t bucket_bytes) {
  std::vector<Bucket> buckets;
  bool open = false;
  for (int l = int(layers.size()) - 1; l >= 0; --l) {
    if (!open) {
      buckets.push_back({layers[l].begin(), layers[l].end(), l, l});
      open = true;
    } else {
      // Walking backwards, each layer sits just before the bucket in memory.
      buckets.back().begin = layers[l].begin();
      buckets.back().first_layer = l;
    }
    if (buckets.back().bytes() >= bucket_bytes) open = false;
  }
  return buckets;
}

struct DistributedDataParallel::State {
  std::vector<int> bucket_of_layer;  // layer -> the bucket holding it
  std::vector<int> pending_layers;   // per bucket: layers whose gradients are not final yet
  std::unique_ptr<dtlab::CommWorker> worker;
  std::vector<dtlab::Work> work;     // this step's bucket allreduces, in bucket order
  // How many ranks take part in this step, summed by an allreduce before the buckets: a rank that
  // has run out of batches sends 0 instead of joining the buckets, so the others find out rather
  // than wait forever for it.
  float joined[1] = {0};
  dtlab::Work join;
  bool sync = false;                 // this backward pass communicates (the step's last one)
  std::int64_t steps = 0;

  // Queues a bucket's allreduce on the worker, after the step's join count if it is the first.
  // (The count goes with the first bucket rather than at the start of the step: a worker that
  // waited for a slower rank's count all through forward would spin on a core backward needs.)
  void start(const Bucket& bucket, dtlab::Mlp& model, int world, const AllreduceFn& allreduce) {
    if (work.empty()) {
      joined[0] = 1;
      join = worker->submit([this, &allreduce](const Comm& c) { allreduce(c, joined); });
    }
    const std::span<float> grads = model.grads().subspan(bucket.begin, bucket.end - bucket.begin);
    work.push_back(worker->submit([this, grads, world, &allreduce](const Comm& c) {
      // The worker runs jobs in order, so the join count is known here; if a rank is missing,
      // the bucket's allreduce would wait for it forever.
      if (joined[0] == float(world)) allreduce(c, grads);
    }));
  }
};


void DistributedDataParallel::setup(const Comm& comm, dtlab::Mlp& model) {
  // Replicas that start apart stay apart: everyone starts from rank 0's parameters.
  library_broadcast(comm, model.params(), 0);
  state_ = std::make_shared<State>();
  State& s = *state_;
  buckets_ = make_buckets(model.layers(), options_.bucket_bytes);
  s.bucket_of_layer.resize(model.layers().size());
  for (std::size_t b = 0; b < buckets_.size(); ++b)
    for (int l = buckets_[b].first_layer; l <= buckets_[b].last_layer; ++l) s.bucket_of_layer[l] = int(b);
  s.pending_layers.resize(buckets_.size());
  s.worker = std::make_unique<dtlab::CommWorker>(comm);
}

void DistributedDataParallel::backward_begins(const Comm&, dtlab::Mlp&, int micro, int micro_batches) {
  State& s = *state_;
  s.sync = micro == micro_batches - 1;
  if (!s.sync) return;  // accumulate locally: no communication before the step's last backward
  for (std::size_t b = 0; b < buckets_.size(); ++b)
    s.pending_layers[b] = buckets_[b].last_layer - buckets_[b].first_layer + 1;
}

void DistributedDataParallel::grad_ready(const Comm& comm, dtlab::Mlp& model, int layer) {
  State& s = *state_;
  if (!s.sync || !options_.overlap) return;
  // Buckets are made in the order backward finishes layers, so they start in bucket order on
  // every rank and the allreduces match up.
  const int b = s.bucket_of_layer[layer];
  if (--s.pending_layers[b] == 0) s.start(buckets_[std::size_t(b)], model, comm.size(), options_.allreduce);
}

void DistributedDataParallel::step(const Comm& comm, dtlab::Mlp& model, dtlab::Optimizer& opt,
                                   const dtlab::StepInfo& info) {
  State& s = *state_;
  if (!options_.overlap)
    for (std::size_t b = 0; b < buckets_.size(); ++b) s.start(buckets_[b], model, comm.size(), options_.allreduce);
  s.worker->wait(s.join);
  for (auto& w : s.work) s.worker->wait(w);
  s.work.clear();
  if (s.joined[0] != float(comm.size()))
    throw dtlab::Error(fmt::format("step {}: only {} of {} ranks had a batch; every rank must see "
                                   "the same number of batches (shard every global batch evenly and "
                                   "drop the incomplete last one)",
                                   s.steps, s.joined[0], comm.size()));
  ++s.steps;
  // The sum over p ranks of m micro-batch means, divided by p*m, is the global batch's mean.
  opt.step(model.params(), model.grads(), info.lr, 1.0f / float(comm.size() * info.micro_batches));
}

void DistributedDataParallel::finish(const Comm& comm, dtlab::Mlp&) {
  State& s = *state_;
  // Join the next step's count with 0: ranks still training learn that this one has stopped.
  s.joined[0] = 0;
  dtlab::Work w = s.worker->submit([this](const Comm& c) { options_.allreduce(c, state_->joined); });
  s.worker->wait(w);
  if (s.joined[0] != 0)
    throw dtlab::Error(fmt::format("this rank ran out of batches after {} steps while {} of {} ranks "
                                   "went on; every rank must see the same number of batches",
                                   s.steps, s.joined[0], comm.size()));
}

}  // namespace lab02
