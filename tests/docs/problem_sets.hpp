// Reads the problem sets (docs/problem-sets/<lang>/*.md) and checks them against dtlab's formulas.
//
// The format, one block per question:
//
//   ### [coll-3] Ring allreduce of 1 GB on 8 nodes
//   *Difficulty:* ★★☆ · *Topic:* collectives · *Practise in:* [Lab 01](../../labs/01-collectives/README.md)
//
//   The question ...
//
//   **Answer.** The worked answer, which shows the number: about 0.175 s ...
//   <!-- check: ring_allreduce_time p=8 bytes=1e9 alpha=5e-6 beta=1e-10 => 0.175 shown "0.175 s" -->
//
//   **Common wrong answer.** ... and why it is wrong.   (optional)
//
// The id in brackets is the same in every language. The first line after the heading carries the
// difficulty (one to three ★) and a Markdown link to the lab where the topic is practised. The
// answer starts with **Answer.** (en) or **答案。** (zh-CN); a common wrong answer with
// **Common wrong answer.** or **常见错误答案。**. Each `check` names a formula of dtlab/formulas.hpp,
// its arguments and the value the text states; `shown` (default: the value as written) must appear
// in the visible text of the question, so the prose and the checked number cannot drift apart.
// Coding problems give their checker as `./dtlab grade labNN --only '<item>'`.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace dtlab::test {

struct Check {
  std::string formula;
  std::map<std::string, std::string> args;  // as written
  std::string value;                        // as written
  std::string shown;                        // what the text must contain
  bool operator==(const Check& o) const {
    return formula == o.formula && args == o.args && value == o.value;
  }
};

struct GradeCommand {
  std::string lab;   // "lab01"
  std::string only;  // the --only filter
};

struct Question {
  std::string id, title, file;
  int line = 0;
  int difficulty = 0;      // number of ★ on the meta line
  std::string lab_link;    // target of the meta line's first link
  bool has_answer = false;
  int wrong_answers = 0;   // "Common wrong answer" paragraphs
  std::vector<Check> checks;
  std::vector<GradeCommand> grades;
  std::string visible;     // the block without HTML comments
};

// Parses one file's text; lang is "en" or "zh-CN" (it picks the answer markers).
std::vector<Question> parse_problem_set(const std::string& text, const std::string& file,
                                        const std::string& lang);

// What is wrong with one question (empty: nothing). Recomputes every check with dtlab::evaluate.
std::vector<std::string> problems_of(const Question& q);

}  // namespace dtlab::test
