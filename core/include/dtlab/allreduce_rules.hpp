// A measured decision table for allreduce: which algorithm is fastest at each message size, per
// rank count, as `dtlab bench allreduce --tune` finds it on this machine. The same idea as Open
// MPI's dynamic rules file (coll_tuned_dynamic_rules_filename) and NCCL's tuner plugins: switch
// points are a property of the machine and the MPI library, so they are measured, not guessed.
//
// The file is text, one rule per line, '#' starts a comment:
//
//   # ranks  up_to_bytes  algorithm
//   2        2048         recursive_doubling
//   2        4096         ring
//   2        -            rabenseifner        ('-': every larger size)
//
// A size takes the first rule of its rank count whose up_to_bytes is at least the size. Lab 01's
// reference choose_allreduce reads the file named by DTLAB_ALLREDUCE_RULES and falls back to fixed
// switch points for rank counts the file does not cover.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dtlab {

class AllreduceRules {
 public:
  static constexpr std::uint64_t kNoLimit = UINT64_MAX;
  struct Rule {
    int ranks;
    std::uint64_t up_to_bytes;  // kNoLimit: every larger size
    std::string algorithm;
  };

  // Parses the text above; `source` names it in errors. Throws Error naming the line that is wrong.
  static AllreduceRules parse(std::string_view text, const std::string& source);
  static AllreduceRules load(const std::filesystem::path& path);  // an absent file: no rules
  // The rules of the file DTLAB_ALLREDUCE_RULES names, loaded once; null when the variable is unset.
  static const AllreduceRules* from_environment();

  // The algorithm for `bytes` on `ranks` ranks; nullopt when no rule covers them.
  std::optional<std::string> choose(int ranks, std::uint64_t bytes) const;

  // Replaces every rule for `ranks` (given in increasing up_to_bytes, the last one kNoLimit).
  void set(int ranks, std::vector<Rule> rules);
  const std::vector<Rule>& rules() const { return rules_; }
  // The file's text, with `header` as comment lines on top; write it with write_file_atomically.
  std::string to_text(const std::string& header) const;

 private:
  std::vector<Rule> rules_;  // sorted by ranks, then up_to_bytes
};

}  // namespace dtlab
