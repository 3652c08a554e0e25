// Optimizers over flat parameter buffers, and learning-rate schedules. The update rules are
// PyTorch's (torch.optim.SGD, Adam, AdamW), so results can be compared line by line.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace dtlab {

struct OptimizerConfig {
  std::string name = "sgd";   // sgd | adam | adamw
  double momentum = 0.9;      // sgd
  bool nesterov = false;      // sgd
  double weight_decay = 0.0;  // sgd, adam: added to the gradient (L2); adamw: decoupled
  double beta1 = 0.9;         // adam, adamw
  double beta2 = 0.999;
  double eps = 1e-8;
};

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual std::string_view name() const = 0;
  // One update of params from grad_scale * grads with learning rate lr. The scale is applied on
  // the fly, which saves a pass over memory when a strategy must divide summed gradients by p.
  // Marked as "optimizer" compute in the op log (4 flops per parameter), whoever calls it.
  void step(std::span<float> params, std::span<const float> grads, double lr, float grad_scale = 1.0f);
  // The state a checkpoint must keep to resume bit-identically: named buffers the size of params.
  virtual std::vector<std::pair<std::string, std::span<float>>> state() = 0;
  std::int64_t steps() const { return steps_; }
  void set_steps(std::int64_t s) { steps_ = s; }

 protected:
  virtual void update(std::span<float> params, std::span<const float> grads, double lr, float grad_scale) = 0;
  std::int64_t steps_ = 0;
};

// Throws dtlab::Error for an unknown name or an out-of-range setting.
std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& config, std::size_t num_params);

struct ScheduleConfig {
  std::string kind = "cosine";    // constant | step | cosine
  std::int64_t warmup_steps = 0;  // linear warmup from lr/warmup to lr
  std::int64_t total_steps = 0;   // cosine: the step where lr reaches min_lr
  double min_lr_ratio = 0.0;      // cosine: min_lr = lr * min_lr_ratio
  std::int64_t step_size = 0;     // step: multiply by gamma every step_size steps
  double gamma = 0.1;
};

class LrSchedule {
 public:
  LrSchedule(double base_lr, ScheduleConfig config);  // validates
  // The learning rate of step (0-based).
  double lr(std::int64_t step) const;

 private:
  double base_;
  ScheduleConfig c_;
};

}  // namespace dtlab
