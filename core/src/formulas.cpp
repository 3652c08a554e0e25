#include "dtlab/formulas.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <ranges>
#include <regex>
#include <sstream>

#include <muParser.h>

#include "dtlab/error.hpp"

namespace dtlab {

const std::vector<Formula>& formulas() {
  static const std::vector<Formula> all = [] {
    std::vector<Formula> v;
    detail::add_collective_formulas(v);
    detail::add_training_formulas(v);
    detail::add_sharding_formulas(v);
    detail::add_sequence_formulas(v);
    detail::add_experts_formulas(v);
    detail::add_fp8_formulas(v);
    detail::add_fabrics_formulas(v);
    detail::add_roofline_formulas(v);
    detail::add_activations_formulas(v);
    detail::add_checkpointing_formulas(v);
    detail::add_operations_formulas(v);
    std::sort(v.begin(), v.end(), [](const Formula& a, const Formula& b) { return a.name < b.name; });
    return v;
  }();
  return all;
}

namespace {

// Edits (insertions, deletions, substitutions) that turn a into b.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

}  // namespace

const Formula& formula(const std::string& name) {
  for (const auto& f : formulas())
    if (f.name == name) return f;
  // There are too many formulas to list in one message: name the close ones (a typo, or the same
  // first word), and say where the whole list is.
  std::vector<std::string> close;
  const std::string head = name.substr(0, name.find('_'));
  for (const auto& f : formulas())
    if (edit_distance(name, f.name) <= 2 || f.name.substr(0, f.name.find('_')) == head) close.push_back(f.name);
  throw Error(fmt::format("unknown formula '{}'{}; `dtlab calc` with no argument lists all {}", name,
                          close.empty() ? "" : fmt::format(" (did you mean {}?)", fmt::join(close, ", ")),
                          formulas().size()));
}

double evaluate(const std::string& name, const FormulaArgs& given) {
  const Formula& f = formula(name);
  FormulaArgs args = f.defaults;
  for (const auto& [k, v] : given) {
    const bool known = std::find(f.params.begin(), f.params.end(), k) != f.params.end() ||
                       f.defaults.count(k) != 0;
    if (!known)
      throw Error(fmt::format("{}: no parameter '{}'; it takes {}{}{}", name, k, fmt::join(f.params, ", "),
                              f.defaults.empty() ? "" : " and optionally ",
                              fmt::join(f.defaults | std::views::keys, ", ")));
    if (!std::isfinite(v)) throw Error(fmt::format("{}: {} = {} is not a finite number", name, k, v));
    args[k] = v;
  }
  for (const auto& p : f.params)
    if (!given.count(p)) throw Error(fmt::format("{}: missing parameter '{}' (it takes {})", name, p, fmt::join(f.params, ", ")));
  return f.eval(args);
}

namespace {

std::vector<std::string> words_of(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> w;
  for (std::string s; in >> s;) w.push_back(s);
  return w;
}

double number(const std::string& where, const std::string& key, const std::string& text) {
  std::size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::logic_error&) {
    used = 0;
  }
  if (used == 0 || used != text.size())
    throw Error(fmt::format("{}: {} = '{}' is not a number (write 1e9, not 1G)", where, key, text));
  return v;
}

// "k=v" words (or "k=v, k=v" inside a call) into arguments.
FormulaArgs arguments(const std::string& name, const std::vector<std::string>& words) {
  FormulaArgs args;
  for (const auto& w : words) {
    const auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0)
      throw Error(fmt::format("{}: '{}' is not key=value (e.g. p=8 bytes=1e9)", name, w));
    args[w.substr(0, eq)] = number(name, w.substr(0, eq), w.substr(eq + 1));
  }
  return args;
}

double floor_of(double x) { return std::floor(x); }
double ceil_of(double x) { return std::ceil(x); }
double round_of(double x) { return std::round(x); }

}  // namespace

bool is_formula_call(const std::string& text) {
  static const std::regex name(R"([a-z][a-z0-9_]*)");
  const auto w = words_of(text);
  return !w.empty() && std::regex_match(w[0], name) &&
         std::all_of(w.begin() + 1, w.end(), [](const std::string& s) { return s.find('=') != std::string::npos; });
}

double calculate(const std::string& text) {
  if (is_formula_call(text)) {
    auto w = words_of(text);
    const std::string name = w[0];
    w.erase(w.begin());
    return evaluate(name, arguments(name, w));
  }
  // Formula calls inside arithmetic are replaced by their values first: the expression parser
  // knows numbers and functions of positional arguments, and formulas take named ones.
  static const std::regex call(R"(\b([a-z][a-z0-9_]*)\(\s*([a-z][a-z0-9_]*\s*=[^()]*)\))");
  std::string expr = text;
  for (std::smatch m; std::regex_search(expr, m, call);) {
    const std::string name = m[1];
    std::vector<std::string> words;
    std::string list = m[2];
    std::replace(list.begin(), list.end(), ',', ' ');
    std::istringstream in(list);
    for (std::string s; in >> s;) {
      // "p = 8" written with spaces: glue the pieces back into "p=8".
      if (!words.empty() && (s == "=" || s.front() == '=' || words.back().back() == '=')) words.back() += s;
      else words.push_back(s);
    }
    expr = m.prefix().str() + fmt::format("({:.17g})", evaluate(name, arguments(name, words))) + m.suffix().str();
  }
  try {
    mu::Parser p;
    p.DefineFun("floor", floor_of);
    p.DefineFun("ceil", ceil_of);
    p.DefineFun("round", round_of);
    p.SetExpr(expr);
    const double v = p.Eval();
    if (!std::isfinite(v)) throw Error(fmt::format("'{}' is not a finite number ({})", text, v));
    return v;
  } catch (const mu::Parser::exception_type& e) {
    throw Error(fmt::format("cannot calculate '{}': {}{}", text, e.GetMsg(),
                            e.GetToken().empty() ? "" : fmt::format(" ('{}')", e.GetToken())));
  }
}

}  // namespace dtlab
