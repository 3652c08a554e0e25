#include "dtlab/cuda/train.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>

#include "dtlab/baseline.hpp"
#include "dtlab/cuda/data.hpp"
#include "dtlab/error.hpp"

namespace dtlab::cuda {

namespace fs = std::filesystem;

void GpuStrategy::setup(DeviceComm& dcomm, GpuMlp& model) {
  dcomm.broadcast(model.params(), model.num_params(), 0, model.stream());
}

void GpuSingle::setup(DeviceComm& dcomm, GpuMlp&) {
  if (dcomm.size() > 1)
    throw Error(fmt::format("strategy 'single' never communicates; with {} ranks use --strategy "
                            "allreduce or ddp", dcomm.size()));
}

void GpuSingle::step(GpuMlp& model, GpuOptimizer& opt, const StepInfo& info) {
  opt.step(model.params(), model.grads(), info.lr, 1.0f / float(info.micro_batches), model.stream());
}

void GpuAllreduce::step(GpuMlp& model, GpuOptimizer& opt, const StepInfo& info) {
  dcomm_.allreduce(model.grads(), model.num_params(), model.stream());
  opt.step(model.params(), model.grads(), info.lr,
           1.0f / float(dcomm_.size() * info.micro_batches), model.stream());
}

namespace {

// Two doubles the device adds into (loss and correct count), read back by the host.
struct Accumulators {
  DeviceBuffer<double> d{2};
  void zero(cudaStream_t s) { DTLAB_CUDA_CHECK(cudaMemsetAsync(d.data(), 0, d.bytes(), s)); }
  std::array<double, 2> read(cudaStream_t s) {
    std::array<double, 2> h{};
    copy_to_host(h.data(), d.data(), 2, s);
    DTLAB_CUDA_CHECK(cudaStreamSynchronize(s));
    return h;
  }
};

// Test loss and accuracy, each rank evaluating its shard on the device; collective.
EpochResult evaluate_on_device(const Comm& comm, GpuMlp& model, const DeviceDataset& test,
                               const std::int64_t* all_indices, float* xb, std::int32_t* yb,
                               int chunk, Accumulators& acc) {
  const Range mine = shard_range(test.size(), comm.rank(), comm.size());
  acc.zero(model.stream());
  for (std::int64_t first = mine.first; first < mine.first + mine.count; first += chunk) {
    const int n = int(std::min<std::int64_t>(chunk, mine.first + mine.count - first));
    test.gather(all_indices + first, n, xb, yb, model.stream());
    model.evaluate(xb, yb, n, acc.d.data(), acc.d.data() + 1);
  }
  const auto h = acc.read(model.stream());
  double sums[3] = {h[0], h[1], double(mine.count)};
  baseline::allreduce(comm, std::span<double>(sums));
  EpochResult r;
  r.test_loss = sums[2] > 0 ? sums[0] / sums[2] : 0;
  r.test_accuracy = sums[2] > 0 ? sums[1] / sums[2] : 0;
  return r;
}

}  // namespace

TrainResult train_cuda(const TrainConfig& cfg, const GpuTrainOptions& options,
                       const DataSplit& data, const Comm& comm, Mlp& host_model) {
  const double t_begin = steady_seconds();
  if (!cfg.checkpoint_dir.empty() || !cfg.resume.empty())
    throw Error("checkpoints are not supported with --device cuda yet; train on the CPU to write or "
                "resume them");
  if (data.train.features != host_model.config().inputs || data.train.classes != host_model.config().classes)
    throw Error(fmt::format("model {} does not fit dataset {} ({} features, {} classes)",
                            host_model.config().describe(), data.train.name, data.train.features,
                            data.train.classes));
  if (cfg.epochs <= 0) throw Error(fmt::format("epochs must be > 0, got {}", cfg.epochs));
  const Placement placement = place_on_gpu(comm);
  DeviceComm dcomm(comm, placement, options.backend);
  const int rank = comm.rank();
  const bool lead = rank == 0;

  host_model.init(cfg.seed);
  Stream stream;
  GpuMlp model(host_model, stream, options.tf32);
  GpuOptimizer opt(cfg.optimizer, model.num_params());
  auto strategy = options.strategy ? options.strategy(dcomm) : nullptr;
  if (!strategy) throw Error("train_cuda: no strategy (GpuTrainOptions::strategy must build one)");

  DistributedSampler sampler(data.train.size, cfg.global_batch, rank, comm.size(), cfg.seed, cfg.shuffle);
  const std::int64_t steps_per_epoch = sampler.batches_per_epoch();
  const LrSchedule schedule = make_schedule(cfg, steps_per_epoch);
  const std::int64_t local = sampler.local_batch();
  const int micro = cfg.micro_batches;
  const int micro_size = int(micro_batch_size(cfg, local, comm.size()));

  const DeviceDataset train_set(data.train, stream), test_set(data.test, stream);
  constexpr int kEvalChunk = 1000;
  const int rows = int(std::max<std::int64_t>(local, kEvalChunk));
  DeviceBuffer<float> xb(std::size_t(rows) * data.train.features);
  DeviceBuffer<std::int32_t> yb(static_cast<std::size_t>(rows));
  std::vector<std::int64_t> iota(std::size_t(data.test.size));
  std::iota(iota.begin(), iota.end(), std::int64_t(0));
  DeviceBuffer<std::int64_t> test_indices(iota.size());
  copy_to_device(test_indices.data(), iota.data(), iota.size(), stream);
  IndexUploader indices(static_cast<std::size_t>(local));
  Accumulators train_acc, eval_acc;

  strategy->setup(dcomm, model);

  MetricsCsv csv(cfg.metrics_csv, lead);
  const GpuMlp::GradReady ready = [&](int layer) { strategy->grad_ready(model, layer); };
  const std::size_t features = std::size_t(data.train.features);

  TrainResult res;
  std::int64_t step = 0;
  bool stop = false;
  stream.synchronize();
  for (int epoch = 0; epoch < cfg.epochs && !stop; ++epoch) {
    const double t_epoch = steady_seconds();
    train_acc.zero(stream);
    double loss_read = 0;  // what the accumulator held at the last per-step read
    std::int64_t seen = 0;
    for (std::int64_t b = 0; b < steps_per_epoch; ++b) {
      if (cfg.max_steps >= 0 && step >= cfg.max_steps) {
        stop = true;
        break;
      }
      const StepInfo info{step, schedule.lr(step), micro};
      const std::int64_t* idx = indices.upload(sampler.indices(epoch, b), stream);
      train_set.gather(idx, int(local), xb.data(), yb.data(), stream);
      for (int m = 0; m < micro; ++m) {
        strategy->backward_begins(model, m, micro);
        const std::size_t first = std::size_t(m) * micro_size;
        model.forward_backward(xb.data() + first * features, yb.data() + first, micro_size, ready,
                               m > 0, train_acc.d.data(), 1.0 / micro);
      }
      strategy->step(model, opt, info);
      ++step;
      seen += local;
      if (csv.is_open()) {  // a per-step loss costs a synchronisation per step
        const double total = train_acc.read(stream)[0];
        const double elapsed = steady_seconds() - t_epoch;
        csv.row(step, epoch, info.lr, total - loss_read,
                double(seen) * comm.size() / std::max(elapsed, 1e-9), steady_seconds() - t_begin);
        loss_read = total;
      }
    }
    strategy->epoch_end(model);
    const double loss_total = train_acc.read(stream)[0];  // also waits for the epoch's last step
    const double epoch_seconds = steady_seconds() - t_epoch;
    res.train_seconds += epoch_seconds;
    res.samples += seen * comm.size();
    if (seen == 0) break;
    double sums[2] = {loss_total * double(local), double(seen)};
    baseline::allreduce(comm, std::span<double>(sums));
    if (!std::isfinite(sums[0]))
      throw Error(fmt::format("the loss is not finite in epoch {}: training diverged; try a smaller "
                              "learning rate than {}", epoch + 1, cfg.lr));
    EpochResult er = cfg.evaluate ? evaluate_on_device(comm, model, test_set, test_indices.data(),
                                                       xb.data(), yb.data(), kEvalChunk, eval_acc)
                                  : EpochResult{};
    er.epoch = epoch;
    er.train_loss = sums[0] / sums[1];
    er.seconds = epoch_seconds;
    res.epochs.push_back(er);
    if (lead && cfg.progress)
      print_epoch(er, cfg.epochs, double(seen) * comm.size() / std::max(epoch_seconds, 1e-9));
  }
  model.download_params(host_model.params());
  csv.close();
  summarise(res, step, steady_seconds() - t_begin);
  return res;
}

}  // namespace dtlab::cuda
