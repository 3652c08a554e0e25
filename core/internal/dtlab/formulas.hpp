// The closed forms the course teaches, by name: collective costs under the alpha-beta-gamma model,
// parameter-server traffic, pipeline bubbles, compressed sizes, memory of mixed precision and
// ZeRO, learning-rate scaling, failure and checkpoint arithmetic.
//
// One table serves three users: `dtlab calc NAME key=value...` (students checking their
// arithmetic), the problem sets (every numeric answer in docs/problem-sets/ names a formula and
// its arguments, and a test recomputes it here), and the cost model's tests. Units are SI:
// seconds, bytes, bytes per second; beta is seconds per byte (1 / bandwidth).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace dtlab {

using FormulaArgs = std::map<std::string, double>;

struct Formula {
  std::string name;                 // e.g. "ring_allreduce_time"
  std::string unit;                 // of the result: "s", "B", "fraction", ...
  std::string description;          // one line, with the expression
  std::vector<std::string> params;  // required, in the order `dtlab calc` lists them
  FormulaArgs defaults;             // optional parameters and their values
  std::function<double(const FormulaArgs&)> eval;
};

// Every formula, sorted by name.
const std::vector<Formula>& formulas();
const Formula& formula(const std::string& name);  // throws dtlab::Error naming the known ones
// Evaluates name at args; throws dtlab::Error for a missing, unknown or non-finite argument.
double evaluate(const std::string& name, const FormulaArgs& args);

// One calculation as a student or a problem set writes it, in either of two forms:
//   "ring_allreduce_time p=8 bytes=1e9 alpha=5e-6 beta=1e-10"      a formula and its arguments
//   "2 * ring_allreduce_time(p=8, bytes=1e9, alpha=5e-6, beta=1e-10) / 1e-3"   arithmetic
// Arithmetic has + - * / ^, parentheses, sqrt exp ln log2 log10 min max floor ceil round abs, and
// formulas called with named numeric arguments. Throws dtlab::Error saying what is wrong.
double calculate(const std::string& text);
// True when text has the first form: a name, then key=value words (calculate() then evaluates it
// as that formula, or throws naming the close ones when there is no such formula).
bool is_formula_call(const std::string& text);

namespace detail {
// Each topic's formulas, in formulas*.cpp: adding a topic is adding a file and a line here.
void add_collective_formulas(std::vector<Formula>& out);
void add_training_formulas(std::vector<Formula>& out);
void add_sharding_formulas(std::vector<Formula>& out);
void add_sequence_formulas(std::vector<Formula>& out);
void add_experts_formulas(std::vector<Formula>& out);
void add_fp8_formulas(std::vector<Formula>& out);
void add_fabrics_formulas(std::vector<Formula>& out);
void add_roofline_formulas(std::vector<Formula>& out);
void add_activations_formulas(std::vector<Formula>& out);
void add_checkpointing_formulas(std::vector<Formula>& out);
void add_operations_formulas(std::vector<Formula>& out);
}  // namespace detail

}  // namespace dtlab
