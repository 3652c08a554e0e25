// Lab 05's training program: dtlab's MLP trained on Fashion-MNIST by asynchronous SGD, local SGD,
// DiLoCo or gossip, by `dtlab train --strategy async|local-sgd|diloco|gossip --impl mine` (on your
// code: lab05_train_starter) or the reference's (lab05_train_reference). It takes every option of
// `dtlab train`, and:
//
//   dtlab train --strategy async --ranks 5 --staleness-aware        rank 0 serves, 4 workers
//   dtlab train --strategy local-sgd --ranks 4 --sync-every 8       average every 8 steps
//   dtlab train --strategy diloco --ranks 4 --sync-every 32 --outer-lr 0.7 --outer-momentum 0.9
//   dtlab train --strategy gossip --ranks 4 --topology torus        mix with the neighbours
//
// --inject slow:rank=R,factor=F makes a worker F times slower (the learning rate defaults to 0.1,
// see main). With --device cuda (the reference only), local-sgd, diloco and gossip train on the
// GPU in dtlab's GPU loop (reference/lab05/cuda/local_sgd_cuda.hpp).
#include <fmt/format.h>

#include "dtlab/program/train.hpp"
#include "lab05_training.hpp"
#ifdef DTLAB_LAB_CUDA
#include "lab05/cuda/local_sgd_cuda.hpp"
#endif

int main(int argc, char** argv) {
  lab05::programs::Flags f;
  dtlab::program::Strategies s;
  s.names = lab05::programs::kStrategies;
  // Half of dtlab train's 0.2, as Lab 04's: stale gradients with Nesterov momentum 0.9 diverge at
  // 0.2 (docs/results/lab04.md); every strategy gets the same unless --lr says otherwise.
  s.lr = 0.1;
  s.make_loop = [&f](const std::string& name) -> dtlab::program::Strategies::Loop {
    return [&f, name](const dtlab::TrainConfig& cfg, const dtlab::DataSplit& data, const dtlab::Comm& world,
                      dtlab::Mlp& model, nlohmann::json& extra) {
      const lab05::programs::Run run = lab05::programs::train(cfg, data, world, model, name, f);
      if (world.rank() != 0) return run.result;
      if (cfg.progress) {
        for (const dtlab::EpochResult& e : run.result.epochs) dtlab::print_epoch(e, cfg.epochs, run.result.samples_per_sec);
        if (name == "async") {
          std::int64_t n = 0, sum = 0;
          for (std::size_t k = 0; k < run.staleness.size(); ++k) n += run.staleness[k], sum += std::int64_t(k) * run.staleness[k];
          fmt::print("{} workers{}: {} updates, mean staleness {:.2f}, max {}\n", world.size() - 1,
                     f.staleness_aware ? ", staleness-aware rate" : "", n, n ? double(sum) / double(n) : 0.0,
                     run.staleness.empty() ? 0 : run.staleness.size() - 1);
        } else {
          fmt::print("{}{}: every {} steps; the ranks' models ended {:.3g} apart (max distance to their mean)\n", name,
                     name == "gossip" ? " on a " + f.topology : std::string(), lab05::programs::sync_every_of(name, f),
                     run.consensus);
        }
        fmt::print("sent by the busiest rank: {:.1f} MB (collectives counted as ring allreduces)\n",
                   run.traffic.wire(world.size()) / 1e6);
        if (run.time_to_target)
          fmt::print("time to {:.0f}% test accuracy: {:.1f} s\n", 100 * f.target, *run.time_to_target);
        else
          fmt::print("never reached {:.0f}% test accuracy\n", 100 * f.target);
      }
      extra = {{"sync_every", lab05::programs::sync_every_of(name, f)},
               {"topology", f.topology},
               {"staleness_aware", f.staleness_aware},
               {"outer_lr", f.outer.lr},
               {"outer_momentum", f.outer.momentum},
               {"staleness_histogram", run.staleness},
               {"bytes_sent", run.traffic.p2p},
               {"collective_bytes", run.traffic.collective},
               {"wire_bytes", run.traffic.wire(world.size())},
               {"consensus_distance", run.consensus},
               {"inject", f.inject},
               {"target_accuracy", f.target},
               {"time_to_target_seconds", run.time_to_target ? nlohmann::json(*run.time_to_target) : nlohmann::json(nullptr)},
               {"accuracy_curve", run.curve}};
      return run.result;
    };
  };
#ifdef DTLAB_LAB_CUDA
  // On the GPU (the reference's only): local SGD, DiLoCo and gossip in dtlab's GPU loop, each rank
  // on its device (reference/lab05/cuda); asynchronous SGD has no GPU version.
  s.make_gpu = [&f](const std::string& name) -> dtlab::program::Strategies::GpuMaker {
    const int H = lab05::programs::sync_every_of(name, f);
    if (name == "local-sgd")
      return [H](dtlab::cuda::DeviceComm& d) { return std::make_unique<lab05::cuda::GpuLocalSgd>(d, H); };
    if (name == "diloco")
      return [H, outer = f.outer](dtlab::cuda::DeviceComm& d) {
        return std::make_unique<lab05::cuda::GpuDiLoCo>(d, H, outer);
      };
    if (name == "gossip")
      return [H, t = lab05::parse_topology(f.topology)](dtlab::cuda::DeviceComm& d) {
        return std::make_unique<lab05::cuda::GpuGossip>(d, t, H);
      };
    return nullptr;
  };
#endif
  return dtlab::program::train_main(
      argc, argv, fmt::format("Lab 05: asynchronous and local SGD ({})", DTLAB_IMPL), s, [&f](CLI::App& app) {
        app.add_option("--sync-every", f.sync_every, "local-sgd, diloco, gossip: steps between synchronisations (H; default 8, 32 and 1)")
            ->check(CLI::Range(1, 1 << 20));
        app.add_option("--topology", f.topology, "gossip: ring or torus")->check(CLI::IsMember({"ring", "torus"}));
        app.add_flag("--staleness-aware", f.staleness_aware, "async: divide each update's rate by its staleness");
        app.add_option("--outer-lr", f.outer.lr, "diloco: the outer learning rate")->check(CLI::PositiveNumber);
        app.add_option("--outer-momentum", f.outer.momentum, "diloco: the outer Nesterov momentum")
            ->check(CLI::Range(0.0, 0.999));
        app.add_option("--inject", f.inject,
                       "Faults, e.g. slow:rank=1,factor=4 (a straggler) or slow:rank=any,factor=4 (a different one each "
                       "step); rank = worker index")
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
        app.add_option("--target-accuracy", f.target, "Report the time to this test accuracy")->check(CLI::Range(0.0, 1.0));
      });
}
