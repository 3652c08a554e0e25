// Lab 03's strategies for dtlab's training loop (dtlab::ShardedStrategy): tensor parallelism and
// pipeline parallelism, optionally replicated (data x pipeline). Shared by the training program
// (train.cpp) and the side-by-side benchmark (bench_model_parallel.cpp).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dtlab/baseline.hpp"
#include "dtlab/train.hpp"
#include "lab01/collectives.hpp"
#include "lab03/model_parallel.hpp"

namespace lab03::programs {

struct Flags {
  int chunks = 2;  // pp-interleaved
  int stages = 2;  // dp-pp
  std::string allreduce = "mpi";
};

inline const std::vector<std::string> kStrategies = {"tp", "pp-gpipe", "pp-1f1b", "pp-interleaved", "dp-pp"};

inline lab03::AllreduceFn allreduce_of(const Flags& f) {
  return f.allreduce == "lab01" ? lab03::AllreduceFn(lab01::allreduce<float>) : lab03::AllreduceFn(lab03::library_allreduce);
}

// Tensor parallelism: every rank holds a 1/p block of each split layer and sees the whole batch.
class TensorParallel final : public dtlab::ShardedStrategy {
 public:
  explicit TensorParallel(lab03::AllreduceFn allreduce) : allreduce_(std::move(allreduce)) {}
  std::string_view name() const override { return "tp"; }
  void setup(const dtlab::Comm& comm, const dtlab::TrainConfig& cfg) override {
    tp_ = std::make_unique<lab03::TensorParallelMlp>(cfg.model, comm, allreduce_);
    tp_->init(cfg.seed);
    opt_ = dtlab::make_optimizer(cfg.optimizer, tp_->num_params());
  }
  float step(const dtlab::Comm&, std::span<const float> x, std::span<const std::int32_t> y,
             const dtlab::StepInfo& info) override {
    const std::size_t m = std::size_t(info.micro_batches), n = y.size() / m, f = x.size() / y.size();
    float loss = 0;
    for (std::size_t i = 0; i < m; ++i)
      loss += tp_->forward_backward(x.subspan(i * n * f, n * f), y.subspan(i * n, n), i > 0) / float(m);
    opt_->step(tp_->params(), tp_->grads(), info.lr, 1.0f / float(m));
    return loss;
  }
  void gather(const dtlab::Comm&, dtlab::Mlp& whole) override { tp_->gather(whole); }

 private:
  lab03::AllreduceFn allreduce_;
  std::unique_ptr<lab03::TensorParallelMlp> tp_;
  std::unique_ptr<dtlab::Optimizer> opt_;
};

// Pipeline parallelism, optionally replicated: `stages` ranks per pipeline, the rest replicas
// that each train on their share of the batch (dp-pp).
class PipelineParallel final : public dtlab::ShardedStrategy {
 public:
  PipelineParallel(std::string name, int stages, int chunks, lab03::AllreduceFn allreduce)
      : name_(std::move(name)), stages_(stages), chunks_(chunks), allreduce_(std::move(allreduce)) {}
  std::string_view name() const override { return name_; }
  int replicas() const override { return replicas_; }
  int replica() const override { return replica_; }
  void setup(const dtlab::Comm& comm, const dtlab::TrainConfig& cfg) override {
    const int stages = stages_ > 0 ? stages_ : comm.size();
    grid_ = std::make_unique<lab03::Grid>(lab03::make_grid(comm, stages));
    replicas_ = comm.size() / stages;
    replica_ = comm.rank() / stages;
    pipe_ = std::make_unique<lab03::Pipeline>(cfg.model, grid_->pipeline, chunks_, cfg.optimizer);
    pipe_->init(cfg.seed);
    const int m = cfg.micro_batches;
    const lab03::Schedule s = name_ == "pp-gpipe"         ? lab03::gpipe(stages, m)
                              : name_ == "pp-interleaved" ? lab03::interleaved_1f1b(stages, m, chunks_)
                                                          : lab03::one_f_one_b(stages, m);
    mine_ = s.at(std::size_t(grid_->pipeline.rank()));
  }
  float step(const dtlab::Comm&, std::span<const float> x, std::span<const std::int32_t> y,
             const dtlab::StepInfo& info) override {
    float loss[1] = {pipe_->run(mine_, info.micro_batches, x, y)};
    pipe_->step(info.lr, replicas_ > 1 ? &grid_->data : nullptr, allreduce_);
    // The loss is known on the last stage: every rank of the pipeline reports it.
    dtlab::baseline::broadcast(grid_->pipeline, std::span<float>(loss), grid_->pipeline.size() - 1);
    return loss[0];
  }
  void gather(const dtlab::Comm&, dtlab::Mlp& whole) override { pipe_->gather(whole); }

 private:
  std::string name_;
  int stages_, chunks_;
  lab03::AllreduceFn allreduce_;
  int replicas_ = 1, replica_ = 0;
  std::unique_ptr<lab03::Grid> grid_;
  std::unique_ptr<lab03::Pipeline> pipe_;
  std::vector<lab03::Action> mine_;
};

// The strategy `name` (one of kStrategies).
inline std::unique_ptr<dtlab::ShardedStrategy> make_strategy(const std::string& name, const Flags& f) {
  if (name == "tp") return std::make_unique<TensorParallel>(allreduce_of(f));
  if (name == "dp-pp") return std::make_unique<PipelineParallel>("dp-pp", f.stages, 1, allreduce_of(f));
  return std::make_unique<PipelineParallel>(name, 0, name == "pp-interleaved" ? f.chunks : 1, allreduce_of(f));
}

}  // namespace lab03::programs
