// Grading one submission of one lab against its rubric.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rubric.hpp"
#include "submission.hpp"

namespace dtlab::grader {

struct ItemResult {
  const Item* item = nullptr;
  double score = 0;
  std::string output;  // for the student: what was checked, what went wrong
  double seconds = 0;
  nlohmann::json detail = nlohmann::json::object();
  bool passed() const { return item && score >= item->points - 1e-9; }
};

struct GradeResult {
  std::string lab;
  std::string title;
  std::string submission;
  bool built = false;
  std::string build_log;
  double score = 0;
  double max_score = 0;
  double seconds = 0;
  std::vector<ItemResult> items;
  std::vector<std::string> skipped;  // items this edition cannot grade (hidden tests)
  nlohmann::json leaderboard = nlohmann::json::array();
};

struct GradeOptions {
  Source source;
  std::vector<std::string> only;     // item names (or parts of them) to run; empty: all
  std::filesystem::path work_root;   // where work folders go; empty: the system temp folder
  bool keep = false;                 // keep the work folder (to debug)
  int sandbox_uid = -1;              // run submissions as this user (root only); -1: as the grader
  bool verbose = false;              // progress on stderr
  double timeout = 0;                // seconds per run, instead of the rubric's (0: the rubric's)
};

GradeResult grade(const Rubric& rubric, const LabBuild& lab, const GradeOptions& options);

// The user submissions run as, by default: an unused uid when the grader is root, else none.
// Each grading slot of this process (--jobs) gets a uid of its own from 61000 + slot upwards, held
// with a lock file for the life of the process, so that two gradings running at once (two
// terminals, two batch jobs) never run as one user and never kill each other's processes.
int default_sandbox_uid(int slot = 0);

}  // namespace dtlab::grader
