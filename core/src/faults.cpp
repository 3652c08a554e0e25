#include "dtlab/faults.hpp"

#include <fmt/format.h>

#include <charconv>
#include <chrono>
#include <thread>

#include "dtlab/error.hpp"
#include "dtlab/rng.hpp"

namespace dtlab {

namespace {

const char* const kSyntax =
    "expected slow:rank=R|any|random,factor=F[,from=S] or kill:rank=R|random,step=S";

template <class T>
T number(std::string_view spec, std::string_view key, std::string_view text) {
  T v{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size())
    throw Error(fmt::format("--inject '{}': {}={} is not a number ({})", spec, key, text, kSyntax));
  return v;
}

// The participant a per-step or once-drawn choice lands on: the same on every rank and run.
int draw(std::uint64_t seed, std::uint64_t salt, int participants) {
  Rng rng(seed ^ (salt * 0x9E3779B97F4A7C15ull));
  return int(rng.below(std::uint64_t(participants)));
}

}  // namespace

Fault parse_fault(std::string_view spec) {
  const auto colon = spec.find(':');
  if (colon == std::string_view::npos) throw Error(fmt::format("--inject '{}': {}", spec, kSyntax));
  Fault f;
  const std::string_view kind = spec.substr(0, colon);
  if (kind == "slow") f.kind = Fault::Kind::slow;
  else if (kind == "kill") f.kind = Fault::Kind::kill;
  else throw Error(fmt::format("--inject '{}': unknown fault '{}' ({})", spec, kind, kSyntax));
  bool has_rank = false, has_factor = false, has_step = false;
  for (std::string_view rest = spec.substr(colon + 1); !rest.empty();) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) throw Error(fmt::format("--inject '{}': '{}' is not key=value ({})", spec, item, kSyntax));
    const std::string_view key = item.substr(0, eq), value = item.substr(eq + 1);
    if (key == "rank") {
      has_rank = true;
      if (value == "any" && f.kind == Fault::Kind::slow) f.rank = Fault::kAny;
      else if (value == "random") f.rank = Fault::kRandom;
      else f.rank = number<int>(spec, key, value);
    } else if (key == "factor" && f.kind == Fault::Kind::slow) {
      has_factor = true;
      f.factor = number<double>(spec, key, value);
      if (!(f.factor >= 1)) throw Error(fmt::format("--inject '{}': factor must be at least 1", spec));
    } else if ((key == "from" && f.kind == Fault::Kind::slow) || (key == "step" && f.kind == Fault::Kind::kill)) {
      has_step = true;
      f.step = number<std::int64_t>(spec, key, value);
      if (f.step < 0) throw Error(fmt::format("--inject '{}': {} must be 0 or more", spec, key));
    } else {
      throw Error(fmt::format("--inject '{}': unexpected '{}' ({})", spec, key, kSyntax));
    }
  }
  if (!has_rank || (f.kind == Fault::Kind::slow && !has_factor) || (f.kind == Fault::Kind::kill && !has_step))
    throw Error(fmt::format("--inject '{}': something is missing ({})", spec, kSyntax));
  return f;
}

FaultPlan::FaultPlan(const std::vector<std::string>& specs, int participants, std::uint64_t seed)
    : participants_(participants), seed_(seed) {
  for (std::size_t i = 0; i < specs.size(); ++i) {
    Fault f = parse_fault(specs[i]);
    if (f.rank == Fault::kRandom) f.rank = draw(seed, i + 1, participants);
    if (f.rank >= participants)
      throw Error(fmt::format("--inject '{}': rank {} does not exist (expected 0 to {})", specs[i], f.rank,
                              participants - 1));
    faults_.push_back(f);
  }
}

double FaultPlan::slowdown(int who, std::int64_t step) const {
  double factor = 1;
  for (const Fault& f : faults_)
    if (f.kind == Fault::Kind::slow && step >= f.step &&
        (f.rank == who || (f.rank == Fault::kAny && draw(seed_, 1000003 + std::uint64_t(step), participants_) == who)))
      factor *= f.factor;
  return factor;
}

bool FaultPlan::dead(int who, std::int64_t step) const {
  for (const Fault& f : faults_)
    if (f.kind == Fault::Kind::kill && f.rank == who && step >= f.step) return true;
  return false;
}

void FaultPlan::straggle(int who, std::int64_t step, double worked) const {
  const double factor = slowdown(who, step);
  if (factor > 1) std::this_thread::sleep_for(std::chrono::duration<double>((factor - 1) * worked));
}

std::string FaultPlan::describe() const {
  std::string s;
  for (const Fault& f : faults_) {
    if (!s.empty()) s += "; ";
    if (f.kind == Fault::Kind::kill) s += fmt::format("kill: participant {} at step {}", f.rank, f.step);
    else if (f.rank == Fault::kAny) s += fmt::format("slow: one participant per step, drawn from the seed, x{:g}", f.factor);
    else s += fmt::format("slow: participant {} x{:g} from step {}", f.rank, f.factor, f.step);
  }
  return s.empty() ? s : fmt::format("{} (seed {})", s, seed_);
}

}  // namespace dtlab
