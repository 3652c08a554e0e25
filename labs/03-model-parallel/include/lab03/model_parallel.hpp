// Lab 03: model parallelism. When a model's layers, activations and optimizer state no longer fit
// on one device, or one device is too slow for one step, the model itself is split over the
// ranks, in two ways that Megatron-LM combines:
//   - tensor parallelism splits every layer's weight matrix: each rank computes a slice of each
//     layer, and the ranks allreduce partial results inside every forward and backward pass;
//   - pipeline parallelism gives each rank a run of whole layers (a stage): activations travel
//     forward and gradients backward between neighbours, and micro-batches keep the stages busy.
//
// You write tensor_parallel.cpp (Part 1) and pipeline.cpp (Parts 2 to 4); everything else here is
// given (given/given.cpp). The handout (labs/03-model-parallel/README.md) explains each part.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "dtlab/comm.hpp"
#include "dtlab/gemm.hpp"
#include "dtlab/mlp.hpp"
#include "dtlab/optim.hpp"
#include "dtlab/stage.hpp"
#include "dtlab/tensor_parallel.hpp"

namespace lab03 {

using dtlab::Comm;
using dtlab::ConstMatMap;
using dtlab::MatMap;

// An in-place sum over the ranks of a group. Given: the library's (MPI_Allreduce); `dtlab train
// --allreduce lab01` passes Lab 01's instead.
using AllreduceFn = std::function<void(const Comm&, std::span<float>)>;
void library_allreduce(const Comm& group, std::span<float> data);

// ======================= Part 1: tensor parallelism (Megatron-LM) =======================
//
// A Linear layer y = x W^T + b, W out x in (dtlab/tensor_parallel.hpp describes the blocks):
//  - column-parallel: rank r of p keeps outputs [r*out/p, (r+1)*out/p): those rows of W and of b.
//    Forward needs no communication; it yields rank r's block of y's columns.
//  - row-parallel: rank r keeps inputs [r*in/p, (r+1)*in/p): those columns of W, and its input is
//    the same block of x's columns. Each rank's x_r W_r^T is a partial sum of y: an allreduce adds
//    them. Only rank 0 holds b, so that the sum adds it once.
// A column-parallel layer, ReLU, then a row-parallel layer (Megatron's MLP block) hands the
// column layer's output block straight to the row layer: one allreduce forward, one backward.

// Column-parallel forward: y = x w^T + b, this rank's block of outputs (x: batch x in, the whole
// input; w: out/p x in; y: batch x out/p). No communication.
void column_parallel_forward(ConstMatMap x, ConstMatMap w, std::span<const float> b, MatMap y);

// Column-parallel backward, given dy (batch x out/p, this rank's block of dL/dy): dw = dy^T x and
// db = column sums of dy for this rank's block, and, unless dx is null, the whole dL/dx
// (batch x in): each rank's dy w is a partial sum of it, added up by one allreduce on group.
void column_parallel_backward(const Comm& group, const AllreduceFn& allreduce, ConstMatMap x,
                              ConstMatMap w, ConstMatMap dy, MatMap dw, std::span<float> db,
                              MatMap* dx);

// Row-parallel forward: y = sum over the group of x w^T, plus b once (x: batch x in/p, this rank's
// block of the input's columns; w: out x in/p; b: out values on rank 0 of the group and empty on
// the others; y: batch x out, the same on every rank). One allreduce.
void row_parallel_forward(const Comm& group, const AllreduceFn& allreduce, ConstMatMap x,
                          ConstMatMap w, std::span<const float> b, MatMap y);

// Row-parallel backward, given dy (batch x out, the same on every rank): dw = dy^T x, db = column
// sums of dy where b is held (db is empty elsewhere), and, unless dx is null, dx = dy w: this
// rank's block of dL/dx's columns. No communication.
void row_parallel_backward(ConstMatMap x, ConstMatMap w, ConstMatMap dy, MatMap dw,
                           std::span<float> db, MatMap* dx);

// dtlab's MLP with every layer split over the ranks of group. Layers 0 and 1, 2 and 3, ... form
// Megatron's MLP block (column-parallel, ReLU, row-parallel); with an odd number of layers the
// last one (10 logits: nothing worth splitting) is replicated: every rank holds all of it and
// computes it on the whole input, so every rank gets the same logits, loss and gradients.
class TensorParallelMlp {
 public:
  // Given: lays out this rank's blocks. Throws dtlab::Error, naming the layer and the width, when
  // the group's size does not divide a width that is split (the column layers' outputs).
  TensorParallelMlp(dtlab::MlpConfig config, const Comm& group,
                    AllreduceFn allreduce = library_allreduce);
  ~TensorParallelMlp();

  // This rank's block of one layer and where its tensors sit in params() and grads().
  struct Layer {
    dtlab::LinearShard shard;
    bool replicated = false;  // the whole layer, on every rank (shard covers it all)
    std::size_t weight = 0;   // offsets into params() / grads()
    std::size_t bias = 0;     // shard.bias_size() values there
  };

  const dtlab::MlpConfig& config() const { return config_; }
  const Comm& group() const { return group_; }
  const AllreduceFn& allreduce() const { return allreduce_; }
  const std::vector<Layer>& layers() const { return layers_; }
  std::size_t num_params() const { return params_.size(); }
  std::span<float> params() { return params_; }
  std::span<const float> params() const { return params_; }
  std::span<float> grads() { return grads_; }
  std::span<const float> grads() const { return grads_; }

  // Given: copies this rank's blocks out of the whole model (tests start from chosen parameters
  // this way), and the reverse: the whole model from every rank's blocks (collective; evaluation).
  void load(const dtlab::Mlp& whole);
  void gather(dtlab::Mlp& whole) const;

  // ---- yours (tensor_parallel.cpp) ----

  // Exactly the values dtlab::Mlp(config).init(seed) gives this rank's blocks, with no
  // communication (dtlab::init_shard).
  void init(std::uint64_t seed);

  // Forward of a batch (x: batch x inputs, the same on every rank of the group): the logits
  // (batch x classes), the same on every rank, valid until the next call. Keeps what backward needs.
  std::span<const float> forward(std::span<const float> x);

  // Forward and backward: returns the batch's mean loss and writes its gradient to grads(), or
  // with accumulate adds it (gradient accumulation over micro-batches). One allreduce forward per
  // MLP block, and one backward per block except the first (the data needs no gradient).
  float forward_backward(std::span<const float> x, std::span<const std::int32_t> labels,
                         bool accumulate = false);

 private:
  // Yours: the activations forward keeps for backward, workspaces... made by init or forward
  // (state_ = std::make_shared<State>()); a shared_ptr, so the given destructor can free it.
  struct State;
  dtlab::MlpConfig config_;
  Comm group_;
  AllreduceFn allreduce_;
  std::vector<Layer> layers_;
  dtlab::AlignedVector<float> params_;
  dtlab::AlignedVector<float> grads_;
  std::shared_ptr<State> state_;
};

// ======================= Part 2: pipeline schedules, as data =======================
//
// A pipeline of p ranks; with interleaving each rank holds v model chunks: the model's layers are
// cut into p*v virtual stages, and virtual stage s = c*p + r is chunk c of rank r (Megatron's
// layout). Without interleaving v = 1 and stage r is rank r. A schedule says, for every rank, the
// order of its actions on the micro-batches of one training step:

enum class Op : std::uint8_t {
  recv_forward,   // receive micro's activations for chunk from the previous virtual stage
  forward,        // forward of micro through chunk (on the last stage: and its loss)
  send_forward,   // send chunk's output activations for micro to the next virtual stage
  recv_backward,  // receive dL/d(chunk's output) for micro from the next virtual stage
  backward,       // backward of micro through chunk
  send_backward,  // send dL/d(chunk's input) for micro to the previous virtual stage
};

struct Action {
  Op op = Op::forward;
  int micro = 0;  // micro-batch, 0 .. m-1
  int chunk = 0;  // model chunk on this rank, 0 .. v-1
  bool operator==(const Action&) const = default;
};

// "F3" (forward of micro-batch 3), "B3.1" (backward of micro-batch 3 through chunk 1),
// "sendF3", "recvB3.1", ...: what the checks and figures print.
std::string to_string(const Action& a);

// schedule[r]: rank r's actions, in the order it runs them.
using Schedule = std::vector<std::vector<Action>>;

// Yours (pipeline.cpp). Each returns every rank's actions for p stages and m micro-batches: a
// forward and a backward of every micro-batch through every chunk, each with the receive before it
// and the send after it that its neighbours need (none before the first virtual stage or after
// the last). Throws dtlab::Error on p < 1, m < 1 (and v < 1, or m not a multiple of p, for the
// interleaved schedule).
//   gpipe            all m forwards, then all m backwards (Huang et al. 2019)
//   one_f_one_b      1F1B (PipeDream-Flush): rank r runs min(p - r - 1, m) warm-up forwards, then
//                    alternates one forward and one backward, then the remaining backwards
//   interleaved_1f1b Megatron's interleaved 1F1B (Narayanan et al. 2021) with v chunks per rank
Schedule gpipe(int stages, int micro_batches);
Schedule one_f_one_b(int stages, int micro_batches);
Schedule interleaved_1f1b(int stages, int micro_batches, int chunks);

// Given: a dry run of a schedule in unit time (a forward or a backward of one micro-batch through
// one chunk takes 1, messages take 0): every rank runs its actions in order; a receive waits until
// the matching send has run, a send never waits (the executor's sends are non-blocking).
struct ScheduleRun {
  std::string problem;  // empty when the schedule is valid; else what is wrong, and where
  int makespan = 0;     // time units until the last rank is done
  std::vector<int> peak_activations;  // per rank: most micro-batches forwarded, not yet backwarded
  // Per rank, every forward and backward with the time it started.
  struct Slot {
    Action action;
    int start = 0;
  };
  std::vector<std::vector<Slot>> slots;
};
// Checks that: every rank has exactly one forward and one backward of every (micro, chunk), the
// forward first; each has the receive it needs before it and the send its neighbour needs after
// it, and no other; every send is received; and the run ends (no rank waits forever: the
// problem then names each waiting rank's action).
ScheduleRun dry_run(const Schedule& schedule, int stages, int micro_batches, int chunks = 1);

// ======================= Part 3: the executor =======================

// Given: the layers of config cut into `stages` runs of consecutive layers with the most even
// numbers of parameters (what each stage computes). Throws dtlab::Error when there are fewer
// layers than stages.
std::vector<dtlab::Block> partition_layers(const dtlab::MlpConfig& config, int stages);

// This rank's part of a pipeline: chunk c is virtual stage c*p + r (an MlpStage, dtlab/stage.hpp).
class Pipeline {
 public:
  // Given: the chunks' layers, from partition_layers(config, p * chunks), and an optimizer per
  // chunk. Throws dtlab::Error when the model has fewer layers than p * chunks.
  Pipeline(dtlab::MlpConfig config, const Comm& group, int chunks = 1,
           dtlab::OptimizerConfig optimizer = {.name = "sgd", .momentum = 0.9, .nesterov = true});
  ~Pipeline();

  const dtlab::MlpConfig& config() const { return config_; }
  const Comm& group() const { return group_; }
  int chunks() const { return int(stages_.size()); }
  int virtual_stages() const { return group_.size() * chunks(); }
  int virtual_stage(int chunk) const { return chunk * group_.size() + group_.rank(); }
  dtlab::MlpStage& stage(int chunk) { return stages_.at(std::size_t(chunk)); }
  const dtlab::MlpStage& stage(int chunk) const { return stages_.at(std::size_t(chunk)); }
  dtlab::Optimizer& optimizer(int chunk) { return *optimizers_.at(std::size_t(chunk)); }

  // Given: every chunk initialised as Mlp::init(seed) initialises its layers (no communication);
  // copies of the chunks' layers out of a whole model; the whole model from every rank's chunks
  // (collective over group).
  void init(std::uint64_t seed);
  void load(const dtlab::Mlp& whole);
  void gather(dtlab::Mlp& whole) const;

  // Given: the tag that a send or receive action's message carries, the same on both sides, so
  // that a receive matches its own message whatever order messages arrive in: every (direction,
  // micro-batch, link between two virtual stages) has its own. Below 32768 (MPI's smallest
  // MPI_TAG_UB) while m * p * v <= 16383.
  int message_tag(const Action& a) const;

  // ---- yours (pipeline.cpp) ----

  // Runs this rank's actions (its row of a schedule) for one batch: x (batch x inputs) and labels
  // (batch) are the whole batch on every rank of the group, read only where the first virtual
  // stage's forward needs x and the last one's loss needs labels. Micro-batch i is samples
  // [i*b/m, (i+1)*b/m) of the b samples (m must divide b). Sends are non-blocking (dtlab::Comm's
  // isend, tagged with message_tag), receives blocking; every send is complete when run returns.
  // The chunks' gradients are zeroed first and accumulated over the micro-batches, with the loss
  // scaled so that they are the gradients of the batch's mean loss. Returns that mean loss on the
  // rank holding the last virtual stage, 0 on the others.
  float run(std::span<const Action> actions, int micro_batches, std::span<const float> x,
            std::span<const std::int32_t> labels);

  // The optimizer step of every chunk at learning rate lr. With data (data x pipeline
  // parallelism: the ranks that hold the same chunks in other pipeline replicas), every chunk's
  // gradients are first averaged over data with allreduce, on every stage.
  void step(double lr, const Comm* data = nullptr, const AllreduceFn& allreduce = library_allreduce);

 private:
  // Yours: whatever run keeps between actions (received activations and gradients, send buffers,
  // pending requests...); made in run (state_ = std::make_shared<State>()).
  struct State;
  dtlab::MlpConfig config_;
  Comm group_;
  std::vector<dtlab::MlpStage> stages_;
  std::vector<std::unique_ptr<dtlab::Optimizer>> optimizers_;
  std::shared_ptr<State> state_;
};

// ======================= Part 4: data x pipeline parallelism =======================

// Given: the ranks of world as `replicas` pipelines of `stages` ranks, replica-major (world rank
// = replica * stages + stage): pipeline is this rank's pipeline, data the ranks holding the same
// stage in every replica. Throws dtlab::Error unless stages divides the world's size.
struct Grid {
  Comm pipeline;
  Comm data;
};
Grid make_grid(const Comm& world, int stages);

}  // namespace lab03
