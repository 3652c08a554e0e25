#include "dtlab/formulas.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <ranges>

#include "dtlab/error.hpp"

namespace dtlab {

const std::vector<Formula>& formulas() {
  static const std::vector<Formula> all = [] {
    std::vector<Formula> v;
    detail::add_collective_formulas(v);
    detail::add_training_formulas(v);
    std::sort(v.begin(), v.end(), [](const Formula& a, const Formula& b) { return a.name < b.name; });
    return v;
  }();
  return all;
}

const Formula& formula(const std::string& name) {
  for (const auto& f : formulas())
    if (f.name == name) return f;
  std::vector<std::string> names;
  for (const auto& f : formulas()) names.push_back(f.name);
  throw Error(fmt::format("unknown formula '{}'; known: {}", name, fmt::join(names, ", ")));
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

}  // namespace dtlab
