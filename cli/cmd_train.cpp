// dtlab train: the MLP on Fashion-MNIST (or synthetic data) on one or more ranks, with dtlab's own
// strategies. A lab's strategy (`--strategy ddp`) is trained by that lab's program instead, which
// main.cpp starts before this parser sees the command (lab_programs.cpp).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "commands.hpp"
#include "dtlab/program/train.hpp"
#include "lab_programs.hpp"
#ifdef DTLAB_WITH_CUDA
#include "dtlab/cuda/train.hpp"
#endif

namespace dtlab::cli {

namespace {

// single on one rank, allreduce on more.
std::string resolve(const std::string& name) {
  if (name != "auto") return name;
  return Comm::world().size() == 1 ? "single" : "allreduce";
}

program::Strategies own_strategies() {
  program::Strategies s;
  s.names = {"auto", "single", "allreduce"};
  s.make = [](const std::string& name) -> std::unique_ptr<Strategy> {
    if (resolve(name) == "single") return std::make_unique<SingleProcess>();
    return std::make_unique<AllreduceDataParallel>();
  };
#ifdef DTLAB_WITH_CUDA
  s.make_gpu = [](const std::string& name) -> program::Strategies::GpuMaker {
    if (resolve(name) == "single") return [](cuda::DeviceComm&) { return std::make_unique<cuda::GpuSingle>(); };
    return [](cuda::DeviceComm& d) { return std::make_unique<cuda::GpuAllreduce>(d); };
  };
#endif
  return s;
}

}  // namespace

void add_train(CLI::App& app, Command& cmd) {
  auto o = std::make_shared<program::TrainOptions>();
  auto* c = app.add_subcommand("train", "Train the MLP on one or more ranks");
  cmd.app = c;
  program::add_train_options(
      *c, *o,
      fmt::format("How ranks keep in step: auto (single for 1 rank, else allreduce), single, allreduce, "
                  "or a lab's strategy, run by the lab's program with its own options (--strategy NAME "
                  "--help lists them): {}",
                  lab_strategies_help()));
  // Read by main.cpp before parsing (a lab strategy is handed to the lab's program); here for --help.
  auto impl = std::make_shared<std::string>("reference");
  c->add_option("--impl", *impl,
                "With a lab's strategy: whose code trains, mine (your working copy) or reference "
                "(default)")
      ->check(CLI::IsMember({"mine", "reference"}));
  o->strategy = "auto";
  c->parse_complete_callback([o, &cmd] { cmd.launch = o->launch; });  // main() launches from cmd.launch
  cmd.run = [o, impl] { return program::run_training(*o, own_strategies()); };
}

}  // namespace dtlab::cli
