// dtlab info: what this build and machine have.
#include <fmt/format.h>
#include <mpi.h>
#include <unistd.h>

#include <Eigen/Core>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "commands.hpp"
#include "dtlab/data.hpp"
#include "dtlab/gemm.hpp"
#include "dtlab/gpu.hpp"
#include "process.hpp"

namespace dtlab::cli {

void add_info(CLI::App& app, Command& cmd) {
  auto* c = app.add_subcommand("info", "Show the build, MPI, CPU, GPUs and dataset");
  cmd.app = c;
  cmd.run = [] {
    char mpi[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(mpi, &len);
    std::string mpi_line(mpi, std::size_t(len));
    if (auto nl = mpi_line.find('\n'); nl != std::string::npos) mpi_line.resize(nl);
    std::printf("dtlab      %s\n", DTLAB_VERSION);
    std::printf("MPI        %s\n", mpi_line.c_str());
    std::printf("Eigen      %d.%d.%d, SIMD: %s\n", EIGEN_WORLD_VERSION, EIGEN_MAJOR_VERSION,
                EIGEN_MINOR_VERSION, Eigen::SimdInstructionSetsInUse());
    std::printf("SGEMM      %s (the dense layers' products; `dtlab bench train-step` times every candidate)\n",
                gemm_library().c_str());
    std::printf("cores      %ld online\n", sysconf(_SC_NPROCESSORS_ONLN));
    const char* rules = std::getenv("DTLAB_ALLREDUCE_RULES");
    std::printf("allreduce  the reference's switch points: %s\n",
                rules ? fmt::format("measured, from {}", rules).c_str()
                      : "fixed (`dtlab bench allreduce --tune --ranks P` measures this machine's)");
    const auto gpus = visible_gpus();
    std::printf("CUDA       %s, %zu GPU%s visible\n", built_with_cuda() ? "built in" : "not built",
                gpus.size(), gpus.size() == 1 ? "" : "s");
    for (const auto& g : gpus)
      std::printf("  gpu %d    %s, %.1f GiB, sm_%d%d\n", g.index, g.name.c_str(),
                  double(g.memory_bytes) / (1 << 30), g.compute_major, g.compute_minor);
    const auto dir = default_fashion_mnist_dir();
    const bool have = std::filesystem::exists(dir / "train-images-idx3-ubyte.gz");
    std::printf("dataset    Fashion-MNIST %s %s\n", have ? "at" : "missing from", dir.c_str());
    std::string why_not;
    const std::string memory = grader::memory_limit_mode(why_not);
    std::printf("grader     memory of graded runs limited by %s\n",
                memory.empty() ? ("nothing: " + why_not).c_str() : memory.c_str());
    return 0;
  };
}

}  // namespace dtlab::cli
