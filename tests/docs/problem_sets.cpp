#include "problem_sets.hpp"

#include <fmt/format.h>

#include <cmath>
#include <regex>
#include <sstream>

#include "dtlab/error.hpp"
#include "dtlab/formulas.hpp"

namespace dtlab::test {

namespace {

int count_stars(const std::string& s) {
  int n = 0;
  for (std::size_t at = s.find("★"); at != std::string::npos; at = s.find("★", at + 1)) ++n;
  return n;
}

std::string strip_comments(const std::string& s) {
  return std::regex_replace(s, std::regex("<!--[\\s\\S]*?-->"), "");
}

}  // namespace

std::vector<Question> parse_problem_set(const std::string& text, const std::string& file,
                                        const std::string& lang) {
  static const std::regex heading(R"(^### \[([a-z0-9-]+)\] (.+)$)");
  static const std::regex other_heading(R"(^#{1,3} )");
  static const std::regex link(R"(\]\(([^)\s]+)\))");
  static const std::regex check(R"(<!-- check: ([a-z0-9_]+)((?: [a-z0-9_]+=\S+)*) => (\S+)(?: shown \"([^\"]+)\")? -->)");
  static const std::regex grade(R"(\./dtlab grade (lab[0-9]+) --only ['"]([^'"]+)['"])");
  const std::string answer = lang == "en" ? "**Answer.**" : "**答案。**";
  const std::string wrong = lang == "en" ? "**Common wrong answer.**" : "**常见错误答案。**";

  std::vector<Question> out;
  std::istringstream in(text);
  std::string line;
  int number = 0;
  Question* q = nullptr;
  bool want_meta = false;
  std::string block;
  auto close = [&] {
    if (!q) return;
    q->visible = strip_comments(block);
    q->has_answer = block.find(answer) != std::string::npos;
    for (std::size_t at = block.find(wrong); at != std::string::npos; at = block.find(wrong, at + 1)) ++q->wrong_answers;
    for (std::sregex_iterator it(block.begin(), block.end(), check), end; it != end; ++it) {
      Check c{(*it)[1], {}, (*it)[3], (*it)[4].matched ? std::string((*it)[4]) : std::string((*it)[3])};
      std::istringstream args((*it)[2]);
      std::string kv;
      while (args >> kv) c.args[kv.substr(0, kv.find('='))] = kv.substr(kv.find('=') + 1);
      q->checks.push_back(c);
    }
    for (std::sregex_iterator it(block.begin(), block.end(), grade), end; it != end; ++it)
      q->grades.push_back({(*it)[1], (*it)[2]});
    q = nullptr;
    block.clear();
  };
  while (std::getline(in, line)) {
    ++number;
    std::smatch m;
    if (std::regex_match(line, m, heading)) {
      close();
      Question fresh;
      fresh.id = m[1];
      fresh.title = m[2];
      fresh.file = file;
      fresh.line = number;
      out.push_back(std::move(fresh));
      q = &out.back();
      want_meta = true;
      continue;
    }
    if (std::regex_search(line, other_heading)) {
      close();
      continue;
    }
    if (!q) continue;
    block += line + "\n";
    if (want_meta && !line.empty()) {
      want_meta = false;
      q->difficulty = count_stars(line);
      if (std::regex_search(line, m, link)) q->lab_link = m[1];
    }
  }
  close();
  return out;
}

std::vector<std::string> problems_of(const Question& q) {
  std::vector<std::string> p;
  const std::string where = fmt::format("{}:{} [{}]", q.file, q.line, q.id);
  if (q.difficulty < 1 || q.difficulty > 3)
    p.push_back(fmt::format("{}: the line after the heading needs a difficulty of 1 to 3 ★, has {}", where, q.difficulty));
  if (q.lab_link.empty()) p.push_back(where + ": the line after the heading needs a link to the lab that practises it");
  if (!q.has_answer) p.push_back(where + ": no answer paragraph");
  for (const auto& c : q.checks) {
    FormulaArgs args;
    try {
      for (const auto& [k, v] : c.args) args[k] = std::stod(v);
      const double stated = std::stod(c.value);
      const double got = evaluate(c.formula, args);
      // Answers are rounded for reading: 0.5% (three significant digits) is what the text owes.
      if (!(std::abs(got - stated) <= 5e-3 * std::abs(got) + 1e-12))
        p.push_back(fmt::format("{}: {} gives {:.6g}, the text states {}", where, c.formula, got, c.value));
    } catch (const std::exception& e) {
      p.push_back(fmt::format("{}: check {} cannot be evaluated: {}", where, c.formula, e.what()));
    }
    if (q.visible.find(c.shown) == std::string::npos)
      p.push_back(fmt::format("{}: the checked value '{}' does not appear in the text", where, c.shown));
  }
  return p;
}

}  // namespace dtlab::test
