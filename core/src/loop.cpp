#include "dtlab/loop.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "dtlab/baseline.hpp"
#include "dtlab/error.hpp"

namespace dtlab {

namespace fs = std::filesystem;

// ---- evaluation ----

EpochResult evaluate(const Comm& comm, Mlp& model, const Dataset& data) {
  const Range mine = shard_range(data.size, comm.rank(), comm.size());
  constexpr std::int64_t kChunk = 1000;
  AlignedVector<float> xb;
  std::vector<std::int32_t> yb;
  double sums[3] = {0, 0, double(mine.count)};  // loss, correct, samples
  for (std::int64_t first = mine.first; first < mine.first + mine.count; first += kChunk) {
    const std::int64_t n = std::min(kChunk, mine.first + mine.count - first);
    xb.resize(std::size_t(n) * data.features);
    yb.resize(std::size_t(n));
    data.slice(first, n, xb, yb);
    const Mlp::Eval e = model.evaluate(xb, yb);
    sums[0] += e.loss_sum;
    sums[1] += double(e.correct);
  }
  baseline::allreduce(comm, std::span<double>(sums));
  EpochResult r;
  r.test_loss = sums[2] > 0 ? sums[0] / sums[2] : 0;
  r.test_accuracy = sums[2] > 0 ? sums[1] / sums[2] : 0;
  return r;
}

// ---- progress, schedule, metrics ----

Progress::Progress(bool on, int epochs, std::int64_t steps_per_epoch)
    : on_(on), tty_(isatty(STDERR_FILENO) || std::getenv("DTLAB_TTY")), epochs_(epochs),
      steps_(steps_per_epoch) {}

void Progress::update(int epoch, std::int64_t batch, double loss, double samples_per_sec) {
  if (!on_ || !tty_) return;
  const double t = steady_seconds();
  if (t - last_ < 0.1 && batch + 1 < steps_) return;
  last_ = t;
  constexpr int kWidth = 30;
  const int filled = int(kWidth * double(batch + 1) / double(steps_));
  std::fprintf(stderr, "\r\033[Kepoch %d/%d [%s%s] %lld/%lld  loss %.4f  %.0f samples/s", epoch + 1,
               epochs_, std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
               (long long)(batch + 1), (long long)steps_, loss, samples_per_sec);
  std::fflush(stderr);
}

void Progress::end_epoch() {
  if (on_ && tty_) std::fprintf(stderr, "\r\033[K");
}

LrSchedule make_schedule(const TrainConfig& cfg, std::int64_t steps_per_epoch) {
  ScheduleConfig sc = cfg.schedule;
  if (sc.warmup_steps == 0 && cfg.warmup_epochs > 0)
    sc.warmup_steps = std::int64_t(std::llround(cfg.warmup_epochs * double(steps_per_epoch)));
  if (sc.total_steps == 0) sc.total_steps = cfg.epochs * steps_per_epoch;
  return LrSchedule(cfg.lr, sc);
}

std::int64_t micro_batch_size(const TrainConfig& cfg, std::int64_t local, int world) {
  const int micro = cfg.micro_batches;
  if (micro < 1 || local % micro != 0)
    throw Error(fmt::format("{} micro-batches cannot split a local batch of {} samples ({} over {} "
                            "ranks) evenly; choose a divisor of {}",
                            micro, local, cfg.global_batch, world, local));
  return local / micro;
}

MetricsCsv::MetricsCsv(const fs::path& path, bool lead) : path_(path) {
  if (!lead || path.empty()) return;
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const fs::path partial = path.string() + ".partial";
  out_.open(partial);
  if (!out_) throw Error(fmt::format("cannot write {}", partial.string()));
  out_ << "step,epoch,lr,loss,samples_per_sec,seconds\n";
}

void MetricsCsv::row(std::int64_t step, std::int64_t epoch, double lr, double loss,
                     double samples_per_sec, double seconds) {
  if (out_.is_open())
    out_ << fmt::format("{},{},{:.6g},{:.6f},{:.1f},{:.4f}\n", step, epoch, lr, loss,
                        samples_per_sec, seconds);
}

void MetricsCsv::close() {
  if (!out_.is_open()) return;
  out_.close();
  const fs::path partial = path_.string() + ".partial";
  if (!out_) throw Error(fmt::format("cannot write {}", partial.string()));
  fs::rename(partial, path_);
}

void print_epoch(const EpochResult& er, int epochs, double samples_per_sec) {
  std::printf("epoch %d/%d  train loss %.4f  test loss %.4f  test accuracy %.2f%%  %.1f s  "
              "%.0f samples/s\n",
              er.epoch + 1, epochs, er.train_loss, er.test_loss, 100 * er.test_accuracy, er.seconds,
              samples_per_sec);
  std::fflush(stdout);
}

void summarise(TrainResult& res, std::int64_t steps, double wall_seconds) {
  res.steps = steps;
  if (!res.epochs.empty()) {
    res.train_loss = res.epochs.back().train_loss;
    res.test_loss = res.epochs.back().test_loss;
    res.test_accuracy = res.epochs.back().test_accuracy;
  }
  res.samples_per_sec = res.train_seconds > 0 ? double(res.samples) / res.train_seconds : 0;
  res.wall_seconds = wall_seconds;
}

double one_process_samples_per_sec(const TrainConfig& cfg, const Dataset& data, const Mlp& trained,
                                   double seconds) {
  Mlp model = trained;  // a copy: measuring must not change the trained model
  auto opt = make_optimizer(cfg.optimizer, model.num_params());
  const std::int64_t batch = std::min(cfg.global_batch, data.size);
  const std::int64_t micro_size = micro_batch_size(cfg, batch, 1);
  const std::size_t features = std::size_t(data.features);
  AlignedVector<float> xb(std::size_t(batch) * features);
  std::vector<std::int32_t> yb(static_cast<std::size_t>(batch));
  data.slice(0, batch, xb, yb);
  auto step = [&] {
    for (int m = 0; m < cfg.micro_batches; ++m) {
      const std::size_t first = std::size_t(m * micro_size);
      model.forward_backward(std::span<const float>(xb).subspan(first * features, micro_size * features),
                             std::span<const std::int32_t>(yb).subspan(first, micro_size), {}, m > 0);
    }
    opt->step(model.params(), model.grads(), 0.0);  // learning rate 0: the same work, no drift
  };
  step();  // warm: workspace allocated, caches filled
  std::int64_t steps = 0;
  const double t0 = steady_seconds();
  while (steps < 5 || steady_seconds() - t0 < seconds) {
    step();
    ++steps;
  }
  return double(steps * batch) / (steady_seconds() - t0);
}

}  // namespace dtlab
