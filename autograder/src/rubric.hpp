// A lab's rubric (labs/NN-name/rubric.toml): what the grader runs and what it is worth.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dtlab::grader {

enum class ItemKind { test, model, speed, match };

struct Item {
  std::string name;
  ItemKind kind = ItemKind::test;
  double points = 0;
  std::string visibility = "visible";  // visible | hidden | after_due_date | after_published
  bool implementation = true;          // the starter must score 0 here
  int ranks = 0;                       // world size of the job
  double timeout = 0;                  // seconds per run
  // test items
  std::string program;                 // public | hidden
  std::string filter;                  // GoogleTest filter
  // model, speed and match items: the benchmark program's case and its sizes
  std::string algo;
  std::vector<std::uint64_t> bytes;
  std::string leaderboard;             // speed items: a leaderboard column, if named
};

struct Curve {
  double full = 1.0;   // ratio at or below which the score is full
  double floor = 2.0;  // ratio at or above which it is zero
  // The fraction of the points a ratio (submission / reference) earns: linear between full and floor.
  double score(double ratio) const;
};

struct Rubric {
  std::filesystem::path path;
  std::string lab;
  std::string title;
  std::string api_header;
  std::vector<std::string> editable;
  // Functions a submission may not call, beyond MPI and dtlab's internals (e.g. the core's own
  // backward passes in the lab that has students write them): names as `nm -C` prints them.
  std::vector<std::string> forbidden;
  int ranks = 4;
  double timeout = 60;
  std::size_t memory_mb = 1024;
  double alpha = 2e-6, beta = 1e-10, gamma = 0;
  Curve speed{1.2, 3.0};
  int speed_trials = 3;
  Curve model{1.05, 2.0};
  double match_tolerance = 3.0;  // match items: full marks within [ref / t, ref * t]
  int match_trials = 3;
  std::vector<Item> items;

  double total_points() const;
};

// Parses and checks a rubric; a mistake is an error naming the file, the item and the field.
Rubric load_rubric(const std::filesystem::path& path);

std::string to_string(ItemKind k);

}  // namespace dtlab::grader
