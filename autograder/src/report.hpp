// What the grader writes: Gradescope's results.json, a table for people, an HTML page.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "grade.hpp"

namespace dtlab::grader {

// Gradescope's format (gradescope-autograders.readthedocs.io/en/latest/specs): score,
// execution_time, output, tests[] (name, score, max_score, status, output, visibility, tags,
// number), leaderboard[].
nlohmann::json gradescope_results(const GradeResult& g);

// A results.json for a grading that could not even start (bad archive, grader error): every item
// of the rubric at 0, the reason in "output". Gradescope must always get a valid file.
nlohmann::json gradescope_failure(const Rubric& rubric, const std::string& why);

std::string table(const GradeResult& g);
std::string html(const GradeResult& g);

}  // namespace dtlab::grader
