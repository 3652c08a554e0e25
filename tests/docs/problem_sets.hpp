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
//   <!-- check: 2*ring_allreduce_time(p=8, bytes=1e9, alpha=5e-6, beta=1e-10) => 0.35 shown "0.35 s" -->
//   <!-- fact: h100_nvlink_per_direction "450 GB/s" NVIDIA H100 SXM datasheet -->
//
//   **Common wrong answer.** ... and why it is wrong.   (optional)
//
// The id in brackets is the same in every language. The first line after the heading carries the
// difficulty (one to three ★) and a Markdown link to the lab where the topic is practised. The
// answer starts with **Answer.** (en) or **答案。** (zh-CN); a common wrong answer with
// **Common wrong answer.** or **常见错误答案。**. A `check` is a calculation (either form of
// dtlab::calculate) and the value the text states; `shown` (default: the value as written) must
// appear in the visible text. A `fact` is a number quoted, not computed: a key, the text as shown,
// and its source. Every number in an answer must be checked, a fact, given in the question, or one
// of the exemptions of unchecked_numbers(). Coding problems give their checker as
// `./dtlab grade labNN --only '<item>'`.
//
// The glossary (docs/problem-sets/glossary.md) is a table "| English | 中文 | 不用 (avoid) |": the
// Chinese pages use the middle column's term and none of the variants in the last.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace dtlab::test {

struct Check {
  std::string calculation;  // "ring_allreduce_time p=8 ..." or an arithmetic expression
  std::string value;        // as written
  std::string shown;        // what the text must contain
  bool operator==(const Check& o) const { return calculation == o.calculation && value == o.value; }
};

struct Fact {
  std::string key, text, source;
  bool operator==(const Fact& o) const = default;
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
  std::vector<Fact> facts;
  std::vector<GradeCommand> grades;
  std::string visible;     // the block without HTML comments
  std::string asked;       // the title and the question: what it gives
  std::string answered;    // from the answer marker on (answer and common wrong answers)
};

// Parses one file's text; lang is "en" or "zh-CN" (it picks the answer markers).
std::vector<Question> parse_problem_set(const std::string& text, const std::string& file,
                                        const std::string& lang);

// The numbers of q's answer that nothing accounts for, as written. A number is accounted for when
// its value is in a check's or a fact's shown text, or given in the question (times a power of
// 1000, or of 100 for a percentage: the question's 1 GB is the answer's 1e9 B), or it is a single
// digit, a year (1970-2035), a label ("Lab 03", "week 8", "stage 3", "第 8 周"), part of a name
// (fp16, H100, 1F1B, ZeRO-3), or in `code`.
std::vector<std::string> unchecked_numbers(const Question& q);

// What is wrong with one question (empty: nothing). Recomputes every check with dtlab::calculate
// and lists the unchecked numbers.
std::vector<std::string> problems_of(const Question& q);

struct GlossaryTerm {
  std::string english, chinese;
  std::vector<std::string> avoid;
};

// The glossary's table rows.
std::vector<GlossaryTerm> parse_glossary(const std::string& text);
// Where a Chinese page departs from the glossary or from its typography: avoided variants, and
// ASCII or corner quotes around Chinese text. Code and HTML comments are not read.
std::vector<std::string> glossary_problems(const std::string& text, const std::string& file,
                                           const std::vector<GlossaryTerm>& terms);

}  // namespace dtlab::test
