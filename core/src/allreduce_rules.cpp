#include "dtlab/allreduce_rules.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <sstream>

#include "dtlab/error.hpp"
#include "dtlab/io.hpp"

namespace dtlab {

namespace {
// By rank count, then limit: choose() takes the first rule that covers a size.
void sort_rules(std::vector<AllreduceRules::Rule>& rules) {
  std::stable_sort(rules.begin(), rules.end(), [](const auto& a, const auto& b) {
    return a.ranks != b.ranks ? a.ranks < b.ranks : a.up_to_bytes < b.up_to_bytes;
  });
}
}  // namespace

AllreduceRules AllreduceRules::parse(std::string_view text, const std::string& source) {
  AllreduceRules out;
  std::istringstream in{std::string(text)};
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    line = line.substr(0, line.find('#'));
    std::istringstream words(line);
    std::string ranks, limit, algorithm, extra;
    if (!(words >> ranks)) continue;  // blank or comment
    auto bad = [&](const std::string& why) {
      return Error(fmt::format("{}:{}: {}; expected 'ranks up_to_bytes algorithm', e.g. "
                               "'2 4096 ring' or '2 - rabenseifner'",
                               source, number, why));
    };
    if (!(words >> limit >> algorithm) || (words >> extra)) throw bad("not three words");
    Rule r{0, kNoLimit, algorithm};
    try {
      std::size_t used = 0;
      r.ranks = std::stoi(ranks, &used);
      if (used != ranks.size() || r.ranks < 1) throw bad(fmt::format("'{}' is not a rank count", ranks));
      if (limit != "-") {
        r.up_to_bytes = std::stoull(limit, &used);
        if (used != limit.size() || limit[0] == '-') throw bad(fmt::format("'{}' is not a byte count", limit));
      }
    } catch (const std::logic_error&) {
      throw bad(fmt::format("'{}' or '{}' is not a number", ranks, limit));
    }
    out.rules_.push_back(r);
  }
  sort_rules(out.rules_);
  return out;
}

AllreduceRules AllreduceRules::load(const std::filesystem::path& path) {
  if (!std::filesystem::exists(path)) return {};
  return parse(read_file(path), path.string());
}

const AllreduceRules* AllreduceRules::from_environment() {
  // Loaded once per process: choose_allreduce runs on every allreduce.
  static std::once_flag once;
  static std::optional<AllreduceRules> rules;
  std::call_once(once, [] {
    const char* path = std::getenv("DTLAB_ALLREDUCE_RULES");
    if (!path || !*path) return;
    if (!std::filesystem::exists(path))
      throw Error(fmt::format("DTLAB_ALLREDUCE_RULES={}: no such file; run `dtlab bench allreduce "
                              "--tune` to write it, or unset the variable",
                              path));
    rules = load(path);
  });
  return rules ? &*rules : nullptr;
}

std::optional<std::string> AllreduceRules::choose(int ranks, std::uint64_t bytes) const {
  for (const Rule& r : rules_)
    if (r.ranks == ranks && bytes <= r.up_to_bytes) return r.algorithm;
  return std::nullopt;
}

void AllreduceRules::set(int ranks, std::vector<Rule> rules) {
  std::erase_if(rules_, [&](const Rule& r) { return r.ranks == ranks; });
  for (Rule& r : rules) {
    r.ranks = ranks;
    rules_.push_back(std::move(r));
  }
  sort_rules(rules_);
}

std::string AllreduceRules::to_text(const std::string& header) const {
  std::string out;
  std::istringstream lines(header);
  for (std::string line; std::getline(lines, line);) out += "# " + line + "\n";
  out += fmt::format("# {:>5} {:>12}  {}\n", "ranks", "up_to_bytes", "algorithm");
  for (const Rule& r : rules_)
    out += fmt::format("{:>7} {:>12}  {}\n", r.ranks,
                       r.up_to_bytes == kNoLimit ? std::string("-") : std::to_string(r.up_to_bytes),
                       r.algorithm);
  return out;
}

}  // namespace dtlab
