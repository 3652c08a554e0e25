#include "problem_sets.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
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

// Blanks out what is not prose, keeping every newline so that line numbers stay right: HTML
// comments, fenced and inline code, link targets and bare URLs.
std::string prose(const std::string& s) {
  auto blank = [](const std::smatch& m) {
    std::string r = m.str();
    for (char& c : r)
      if (c != '\n') c = ' ';
    return r;
  };
  std::string out = s;
  for (const char* re : {R"(<!--[\s\S]*?-->)", R"(```[\s\S]*?```)", R"(`[^`\n]*`)", R"(\]\([^)\s]*\))",
                         R"(https?://\S+)"}) {
    const std::regex r(re);
    std::string next;
    auto begin = std::sregex_iterator(out.begin(), out.end(), r);
    std::size_t last = 0;
    for (auto it = begin; it != std::sregex_iterator(); ++it) {
      next += out.substr(last, it->position() - last) + blank(*it);
      last = it->position() + it->length();
    }
    out = next + out.substr(last);
  }
  return out;
}

std::string strip_comments(const std::string& s) {
  return std::regex_replace(s, std::regex("<!--[\\s\\S]*?-->"), "");
}

bool ascii_letter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
bool digit(char c) { return c >= '0' && c <= '9'; }

struct Number {
  std::string written;
  double value = 0;
  bool plain_integer = false;  // no decimal point, no exponent, no thousands separator
  bool label = false;          // "Lab 03", "week 8", "第 8 周"
  bool percent = false;        // "36%"
};

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Every number of the prose text. Digits inside a name (fp16, H100, 1F1B, ZeRO-3, coll-18) are
// not numbers; "1.45x" and "36%" are. In "7B" or "4k" the letter scales the number when
// scale_suffixes is set (a question's "7B-parameter model" gives 7e9), else it makes a name.
std::vector<Number> numbers_in(const std::string& text, bool scale_suffixes = false) {
  std::vector<Number> out;
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    if (!digit(text[i])) { ++i; continue; }
    const char before = i > 0 ? text[i - 1] : ' ';
    const bool in_name = ascii_letter(before) || digit(before) || before == '_' || before == '.' ||
                         (before == '-' && i > 1 && ascii_letter(text[i - 2]));
    std::size_t j = i;
    bool plain = true;
    while (j < n && digit(text[j])) ++j;
    // Thousands separators: a comma followed by exactly three digits.
    while (j + 3 < n && text[j] == ',' && digit(text[j + 1]) && digit(text[j + 2]) && digit(text[j + 3]) &&
           (j + 4 >= n || !digit(text[j + 4]))) {
      j += 4;
      plain = false;
    }
    if (j + 1 < n && text[j] == '.' && digit(text[j + 1])) {
      ++j;
      while (j < n && digit(text[j])) ++j;
      plain = false;
    }
    if (j + 1 < n && (text[j] == 'e' || text[j] == 'E')) {
      std::size_t k = j + 1;
      if (k < n && (text[k] == '-' || text[k] == '+')) ++k;
      if (k < n && digit(text[k])) {
        while (k < n && digit(text[k])) ++k;
        j = k;
        plain = false;
      }
    }
    std::string written = text.substr(i, j - i);
    double scale = 1;
    bool name = in_name;
    if (j < n && (ascii_letter(text[j]) || text[j] == '_')) {
      const bool alone = j + 1 >= n || !(ascii_letter(text[j + 1]) || digit(text[j + 1]));
      if (text[j] == 'x' && alone) {
        // a ratio: 1.45x
      } else if (scale_suffixes && alone && std::string("KkMBT").find(text[j]) != std::string::npos) {
        scale = text[j] == 'M' ? 1e6 : text[j] == 'B' ? 1e9 : text[j] == 'T' ? 1e12 : 1e3;
      } else {
        name = true;
      }
    }
    // Chinese writes large numbers in 万 (1e4) and 亿 (1e8): "2.01 亿" is 2.01e8.
    for (const auto& [unit, factor] : {std::pair<std::string, double>{"万", 1e4}, {"亿", 1e8}}) {
      const std::size_t at = j < n && text[j] == ' ' ? j + 1 : j;
      if (text.compare(at, unit.size(), unit) == 0) scale = factor;
    }
    std::size_t end = j;
    while (end < n && (ascii_letter(text[end]) || digit(text[end]) || text[end] == '_')) ++end;
    if (!name) {
      std::string digits;
      for (char c : written)
        if (c != ',') digits += c;
      Number num{written, std::stod(digits) * scale, plain, false, j < n && text[j] == '%'};
      std::string left = text.substr(0, i);
      while (!left.empty() && left.back() == ' ') left.pop_back();
      for (const char* l : {"Lab", "lab", "Labs", "labs", "Week", "week", "Weeks", "weeks", "Stage", "stage",
                            "Figure", "figure", "Table", "table", "Section", "section", "Appendix", "Chapter",
                            "实验", "第", "阶段"})
        if (ends_with(left, l)) num.label = true;
      out.push_back(num);
    }
    i = std::max(end, i + 1);
  }
  return out;
}

bool same(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b)); }

}  // namespace

std::vector<Question> parse_problem_set(const std::string& text, const std::string& file,
                                        const std::string& lang) {
  static const std::regex heading(R"(^### \[([a-z0-9-]+)\] (.+)$)");
  static const std::regex other_heading(R"(^#{1,3} )");
  static const std::regex link(R"(\]\(([^)\s]+)\))");
  static const std::regex check(R"(<!-- check: ([^\n]+?) => (\S+)(?: shown \"([^\"]+)\")? -->)");
  static const std::regex fact(R"(<!-- fact: ([a-z0-9_]+) \"([^\"]+)\"([\s\S]*?)-->)");
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
    const std::size_t at = block.find(answer);
    q->has_answer = at != std::string::npos;
    q->asked = q->title + "\n" + prose(block.substr(0, at));
    q->answered = at == std::string::npos ? "" : prose(block.substr(at));
    for (std::size_t w = block.find(wrong); w != std::string::npos; w = block.find(wrong, w + 1)) ++q->wrong_answers;
    for (std::sregex_iterator it(block.begin(), block.end(), check), end; it != end; ++it)
      q->checks.push_back({(*it)[1], (*it)[2], (*it)[3].matched ? std::string((*it)[3]) : std::string((*it)[2])});
    for (std::sregex_iterator it(block.begin(), block.end(), fact), end; it != end; ++it) {
      std::string source = (*it)[3];
      source.erase(0, source.find_first_not_of(" \n"));
      source.erase(source.find_last_not_of(" \n") + 1);
      q->facts.push_back({(*it)[1], (*it)[2], source});
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

std::vector<std::string> unchecked_numbers(const Question& q) {
  std::vector<double> checked;
  std::vector<Number> given = numbers_in(q.asked, true);
  for (const auto& c : q.checks)
    for (const auto& n : numbers_in(c.shown + " " + c.value)) checked.push_back(n.value);
  for (const auto& f : q.facts)
    for (const auto& n : numbers_in(f.text)) checked.push_back(n.value);
  auto is_given = [&](const Number& n) {
    for (const auto& g : given) {
      if ((n.percent && !g.percent && same(n.value, g.value * 100)) ||
          (g.percent && !n.percent && same(n.value, g.value / 100)))
        return true;
      for (int k = -4; k <= 4; ++k)
        if (same(n.value, g.value * std::pow(1000.0, k))) return true;
    }
    return false;
  };
  std::vector<std::string> out;
  for (const auto& n : numbers_in(q.answered)) {
    if (n.label) continue;
    if (n.plain_integer && n.value < 10) continue;
    if (n.plain_integer && n.value >= 1970 && n.value <= 2035) continue;
    if (std::any_of(checked.begin(), checked.end(), [&](double c) { return same(c, n.value); })) continue;
    if (is_given(n)) continue;
    if (std::find(out.begin(), out.end(), n.written) == out.end()) out.push_back(n.written);
  }
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
    try {
      const double stated = std::stod(c.value);
      const double got = calculate(c.calculation);
      // Answers are rounded for reading: 0.5% (three significant digits) is what the text owes.
      if (!(std::abs(got - stated) <= 5e-3 * std::abs(got) + 1e-12))
        p.push_back(fmt::format("{}: '{}' gives {:.6g}, the text states {}", where, c.calculation, got, c.value));
    } catch (const std::exception& e) {
      p.push_back(fmt::format("{}: check '{} => {}' cannot be evaluated: {}", where, c.calculation, c.value, e.what()));
    }
    if (q.visible.find(c.shown) == std::string::npos)
      p.push_back(fmt::format("{}: the checked value '{}' does not appear in the text", where, c.shown));
  }
  for (const auto& f : q.facts) {
    if (f.source.empty()) p.push_back(fmt::format("{}: fact {} names no source", where, f.key));
    if (q.visible.find(f.text) == std::string::npos)
      p.push_back(fmt::format("{}: fact {} '{}' does not appear in the text", where, f.key, f.text));
  }
  if (const auto loose = unchecked_numbers(q); !loose.empty())
    p.push_back(fmt::format("{}: numbers in the answer that no check, fact or the question accounts for: {}", where,
                            fmt::join(loose, ", ")));
  return p;
}

std::vector<GlossaryTerm> parse_glossary(const std::string& text) {
  std::vector<GlossaryTerm> terms;
  std::istringstream in(text);
  auto trim = [](std::string s) {
    s.erase(0, s.find_first_not_of(" \t"));
    s.erase(s.find_last_not_of(" \t") + 1);
    return s;
  };
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("|", 0) != 0 || line.find("---") != std::string::npos) continue;
    std::vector<std::string> cells;
    std::istringstream row(line.substr(1));
    for (std::string cell; std::getline(row, cell, '|');) cells.push_back(trim(cell));
    if (cells.size() < 3 || cells[0] == "English") continue;
    GlossaryTerm t{cells[0], cells[1], {}};
    const std::string sep = "、";
    std::string rest = cells[2];
    for (std::size_t at; !rest.empty();) {
      at = rest.find(sep);
      std::string v = trim(rest.substr(0, at));
      if (!v.empty()) t.avoid.push_back(v);
      rest = at == std::string::npos ? "" : rest.substr(at + sep.size());
    }
    terms.push_back(t);
  }
  return terms;
}

std::vector<std::string> glossary_problems(const std::string& text, const std::string& file,
                                           const std::vector<GlossaryTerm>& terms) {
  // An English word avoided in Chinese prose ("每个 step 都") is flagged only where it stands as a
  // word among Chinese text, not inside a formula or a name such as (step+1)/warmup.
  auto word_char = [](char c) {
    return ascii_letter(c) || digit(c) || std::string("_-+*/()=.·[]<>'").find(c) != std::string::npos;
  };
  std::vector<std::string> p;
  std::istringstream in(prose(text));
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    for (const auto& t : terms)
      for (const auto& v : t.avoid)
        for (std::size_t at = line.find(v); at != std::string::npos; at = line.find(v, at + 1)) {
          const bool ascii = std::all_of(v.begin(), v.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
          const char before = at > 0 ? line[at - 1] : ' ', after = at + v.size() < line.size() ? line[at + v.size()] : ' ';
          if (ascii && (word_char(before) || word_char(after))) continue;
          p.push_back(fmt::format("{}:{}: '{}': the glossary writes {} ({})", file, number, v, t.chinese, t.english));
          break;
        }
    for (const char* corner : {"「", "」", "『", "』"})
      if (line.find(corner) != std::string::npos)
        p.push_back(fmt::format("{}:{}: corner quote {}: Chinese prose quotes with “ ”", file, number, corner));
    // A pair of ASCII double quotes around Chinese text (CJK characters are 3-byte UTF-8 starting
    // with 0xE3 to 0xE9).
    for (std::size_t a = line.find('"'); a != std::string::npos;) {
      const std::size_t b = line.find('"', a + 1);
      if (b == std::string::npos) break;
      const std::string inside = line.substr(a + 1, b - a - 1);
      if (std::any_of(inside.begin(), inside.end(),
                      [](char c) { return static_cast<unsigned char>(c) >= 0xE3 && static_cast<unsigned char>(c) <= 0xE9; }))
        p.push_back(fmt::format("{}:{}: ASCII quotes around Chinese text: use “ ”", file, number));
      a = line.find('"', b + 1);
    }
  }
  return p;
}

}  // namespace dtlab::test
