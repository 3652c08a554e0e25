// The two halves of Lab 01's allreduce benchmark: host buffers (bench_allreduce.cpp) and device
// buffers (bench_allreduce_cuda.cpp, in the reference build with the CUDA track).
#pragma once

#include <cstddef>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "dtlab/comm.hpp"

// Whose Lab 01 this program runs: "reference" or "mine" (set per program by CMake).
inline constexpr const char* kImpl = DTLAB_IMPL;

// Where the benchmark reduces: a buffer, and one way per algorithm to reduce its first `count`
// floats in place, returning once the result is there.
struct AllreduceTarget {
  std::vector<std::string> algos;                     // what run[k] runs, by name
  std::string note;                                   // a header line saying what is measured
  std::function<void(std::span<const float>)> load;   // sets the first values.size() floats
  std::function<void(std::span<float>)> store;        // reads the first out.size() floats
  std::vector<std::function<void(std::size_t count)>> run;
};

// Device buffers: nccl, staged (MPI through pinned memory), lab01-ring, lab01-rd (Lab 01's
// recursive doubling), lab01 (Lab 01's choice). None given: nccl (unless ranks share a GPU),
// staged and lab01. Collective.
AllreduceTarget device_allreduce_target(const dtlab::Comm& world, std::vector<std::string> algos,
                                        std::size_t max_count);
