#include "dtlab/optim.hpp"

#include <fmt/format.h>

#include <cmath>
#include <numbers>

#include "dtlab/error.hpp"
#include "dtlab/oplog.hpp"

namespace dtlab {

void Optimizer::step(std::span<float> params, std::span<const float> grads, double lr, float grad_scale) {
  ComputeScope scope("optimizer", 4.0 * double(params.size()));
  update(params, grads, lr, grad_scale);
}

namespace {

// PyTorch's SGD: g = grad + wd*p; buf = momentum*buf + g (buf = g on the first step);
// p -= lr * (nesterov ? g + momentum*buf : buf).
class Sgd final : public Optimizer {
 public:
  Sgd(const OptimizerConfig& c, std::size_t n)
      : momentum_(float(c.momentum)), wd_(float(c.weight_decay)), nesterov_(c.nesterov), buf_(n) {}
  std::string_view name() const override { return "sgd"; }

  void update(std::span<float> p, std::span<const float> g, double lr_d, float scale) override {
    const float lr = float(lr_d), mu = momentum_, wd = wd_;
    const std::size_t n = p.size();
    float* __restrict pp = p.data();
    const float* __restrict gp = g.data();
    float* __restrict b = buf_.data();
    const float keep = steps_ == 0 ? 0.0f : mu;  // the buffer starts as the first gradient
    const float cg = nesterov_ ? 1.0f : 0.0f, cb = nesterov_ ? mu : 1.0f;
    for (std::size_t i = 0; i < n; ++i) {
      const float gi = scale * gp[i] + wd * pp[i];
      b[i] = keep * b[i] + gi;
      pp[i] -= lr * (cg * gi + cb * b[i]);
    }
    ++steps_;
  }

  std::vector<std::pair<std::string, std::span<float>>> state() override {
    return {{"momentum_buffer", buf_}};
  }

 private:
  float momentum_, wd_;
  bool nesterov_;
  std::vector<float> buf_;
};

// PyTorch's Adam (weight decay added to the gradient) and AdamW (decoupled: p *= 1 - lr*wd).
class Adam final : public Optimizer {
 public:
  Adam(const OptimizerConfig& c, std::size_t n, bool decoupled)
      : c_(c), decoupled_(decoupled), m_(n), v_(n) {}
  std::string_view name() const override { return decoupled_ ? "adamw" : "adam"; }

  void update(std::span<float> p, std::span<const float> g, double lr, float scale) override {
    ++steps_;
    const double bc1 = 1 - std::pow(c_.beta1, double(steps_));
    const double bc2 = 1 - std::pow(c_.beta2, double(steps_));
    const float b1 = float(c_.beta1), b2 = float(c_.beta2), eps = float(c_.eps);
    const float wd = float(c_.weight_decay);
    const float step_size = float(lr / bc1);
    const float inv_sqrt_bc2 = float(1 / std::sqrt(bc2));
    const float decay = decoupled_ ? float(1 - lr * c_.weight_decay) : 1.0f;
    const std::size_t n = p.size();
    float* __restrict pp = p.data();
    const float* __restrict gp = g.data();
    float* __restrict m = m_.data();
    float* __restrict v = v_.data();
    for (std::size_t i = 0; i < n; ++i) {
      const float gi = decoupled_ ? scale * gp[i] : scale * gp[i] + wd * pp[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      pp[i] = pp[i] * decay - step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_bc2 + eps);
    }
  }

  std::vector<std::pair<std::string, std::span<float>>> state() override {
    return {{"exp_avg", m_}, {"exp_avg_sq", v_}};
  }

 private:
  OptimizerConfig c_;
  bool decoupled_;
  std::vector<float> m_, v_;
};

void check_range(const char* what, double v, double lo, double hi) {
  if (!(v >= lo && v <= hi))
    throw Error(fmt::format("optimizer: {} = {} is out of range; expected {} to {}", what, v, lo, hi));
}

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const OptimizerConfig& c, std::size_t n) {
  check_range("weight_decay", c.weight_decay, 0, 1);
  if (c.name == "sgd") {
    check_range("momentum", c.momentum, 0, 0.999999);
    if (c.nesterov && c.momentum == 0) throw Error("optimizer: nesterov needs momentum > 0");
    return std::make_unique<Sgd>(c, n);
  }
  if (c.name == "adam" || c.name == "adamw") {
    check_range("beta1", c.beta1, 0, 0.999999);
    check_range("beta2", c.beta2, 0, 0.999999999);
    check_range("eps", c.eps, 1e-30, 1);
    return std::make_unique<Adam>(c, n, c.name == "adamw");
  }
  throw Error(fmt::format("unknown optimizer '{}'; expected sgd, adam or adamw", c.name));
}

LrSchedule::LrSchedule(double base_lr, ScheduleConfig c) : base_(base_lr), c_(std::move(c)) {
  if (!(base_lr > 0) || !std::isfinite(base_lr))
    throw Error(fmt::format("learning rate {} must be a positive number", base_lr));
  if (c_.warmup_steps < 0) throw Error("warmup steps must be >= 0");
  if (c_.kind == "cosine") {
    if (c_.total_steps <= c_.warmup_steps)
      throw Error(fmt::format("cosine schedule: total steps ({}) must exceed warmup steps ({})",
                              c_.total_steps, c_.warmup_steps));
    check_range("min_lr_ratio", c_.min_lr_ratio, 0, 1);
  } else if (c_.kind == "step") {
    if (c_.step_size <= 0) throw Error("step schedule: step size must be > 0");
    check_range("gamma", c_.gamma, 0, 1);
  } else if (c_.kind != "constant") {
    throw Error(fmt::format("unknown schedule '{}'; expected constant, step or cosine", c_.kind));
  }
}

double LrSchedule::lr(std::int64_t step) const {
  if (step < c_.warmup_steps) return base_ * double(step + 1) / double(c_.warmup_steps);
  const std::int64_t t = step - c_.warmup_steps;
  if (c_.kind == "step") return base_ * std::pow(c_.gamma, double(t / c_.step_size));
  if (c_.kind == "cosine") {
    const double T = double(c_.total_steps - c_.warmup_steps);
    const double x = std::min(double(t), T) / T;
    const double min_lr = base_ * c_.min_lr_ratio;
    return min_lr + (base_ - min_lr) * 0.5 * (1 + std::cos(std::numbers::pi * x));
  }
  return base_;
}

}  // namespace dtlab
