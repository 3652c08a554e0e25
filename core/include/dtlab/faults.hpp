// Fault and straggler injection: configured by specs such as `slow:rank=1,factor=4` or
// `kill:rank=2,step=50`, seeded, and replayable. A training loop asks the plan, at every step of
// every participant (a rank, or a worker of a parameter server), how much slower to run and whether
// to die; the same specs and seed give the same faults on every run.
//
//   slow:rank=R,factor=F[,from=S]   participant R runs F times slower from step S (default 0): a
//                                   persistent straggler (a slower host, a co-located job)
//   slow:rank=any,factor=F          at every step one participant, drawn from the seed and the
//                                   step, runs F times slower: a transient straggler (a pause, a
//                                   busy link) that moves around
//   kill:rank=R,step=S              participant R dies when it reaches step S
//   R = random                      a participant drawn once from the seed (printed by describe())
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace dtlab {

struct Fault {
  enum class Kind : std::uint8_t { slow, kill };
  static constexpr int kAny = -1;     // slow: a different participant every step
  static constexpr int kRandom = -2;  // drawn once from the seed
  Kind kind = Kind::slow;
  int rank = 0;
  std::int64_t step = 0;  // kill: the step it dies at; slow: the first slow step
  double factor = 1;      // slow
};

// Parses one spec; throws dtlab::Error naming the spec and what was expected.
Fault parse_fault(std::string_view spec);

class FaultPlan {
 public:
  FaultPlan() = default;
  // The faults of specs among `participants` participants (numbered 0..participants-1), random
  // choices drawn from seed. Throws dtlab::Error for a bad spec or a rank out of range.
  FaultPlan(const std::vector<std::string>& specs, int participants, std::uint64_t seed);

  bool empty() const { return faults_.empty(); }
  const std::vector<Fault>& faults() const { return faults_; }
  // How many times slower participant `who` runs its step `step`: 1 without a slow fault.
  double slowdown(int who, std::int64_t step) const;
  // Whether `who` has died by step `step`.
  bool dead(int who, std::int64_t step) const;
  // Sleeps as long as a step that took `worked` seconds must be stretched to run slowdown(who,
  // step) times slower.
  void straggle(int who, std::int64_t step, double worked) const;
  // One line for the run's banner, e.g. "slow: participant 1 x4 from step 0 (seed 7)".
  std::string describe() const;

 private:
  std::vector<Fault> faults_;
  int participants_ = 0;
  std::uint64_t seed_ = 0;
};

}  // namespace dtlab
