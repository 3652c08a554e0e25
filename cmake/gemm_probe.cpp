// Run while configuring dtlab (core/CMakeLists.txt): times each SGEMM candidate on the course MLP's
// products and names the fastest, which the build then links. argv[1]: "name=path,..." of the
// libraries found. Output, one line each: "rate <name> <GFLOP/s>", then "fastest <name>".
#include <cstdio>
#include <vector>

#include "dtlab/fastest.hpp"
#include "dtlab/sgemm_probe.hpp"

int main(int argc, char** argv) {
  namespace probe = dtlab::sgemm_probe;
  std::string skipped;
  const auto candidates = probe::load(argc > 1 ? argv[1] : "", &skipped);
  if (!skipped.empty()) std::printf("skipped %s\n", skipped.c_str());
  const auto products = probe::course_mlp_products();
  std::vector<double> seconds;  // per unit of work: the inverse of the rate
  for (const auto& c : candidates) {
    const double rate = probe::gflops(c.sgemm, products);
    std::printf("rate %s %.1f\n", c.name.c_str(), rate);
    seconds.push_back(1 / rate);
  }
  // Within 3% of the fastest, the earlier library wins (Eigen first): the choice is then the
  // same from one configure to the next unless the machine's candidates really differ.
  std::printf("fastest %s\n", candidates[dtlab::first_within(seconds)].name.c_str());
}
