#include "rubric.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <toml++/toml.h>

#include "dtlab/error.hpp"

namespace dtlab::grader {

std::string to_string(ItemKind k) {
  switch (k) {
    case ItemKind::test: return "test";
    case ItemKind::model: return "model";
    case ItemKind::speed: return "speed";
    case ItemKind::match: return "match";
  }
  return "?";
}

double Curve::score(double ratio) const {
  if (!(ratio == ratio)) return 0;  // NaN
  if (ratio <= full) return 1;
  if (ratio >= floor) return 0;
  return (floor - ratio) / (floor - full);
}

double Rubric::total_points() const {
  double t = 0;
  for (const auto& i : items) t += i.points;
  return t;
}

namespace {

struct Reader {
  const std::filesystem::path& path;
  std::string where;

  [[noreturn]] void fail(const std::string& what) const {
    throw Error(fmt::format("{}: {}{}", path.string(), where.empty() ? "" : where + ": ", what));
  }

  template <class T>
  T get(const toml::table& t, const char* key, T fallback, bool required = false) const {
    const auto node = t[key];
    if (!node) {
      if (required) fail(fmt::format("'{}' is required", key));
      return fallback;
    }
    if constexpr (std::is_same_v<T, std::string>) {
      if (auto v = node.value<std::string>()) return *v;
      fail(fmt::format("'{}' must be a string", key));
    } else if constexpr (std::is_same_v<T, bool>) {
      if (auto v = node.value<bool>()) return *v;
      fail(fmt::format("'{}' must be true or false", key));
    } else {
      if (auto v = node.value<double>()) {
        if (*v < 0) fail(fmt::format("'{}' must not be negative", key));
        return T(*v);
      }
      fail(fmt::format("'{}' must be a number", key));
    }
  }

  std::vector<std::uint64_t> sizes(const toml::table& t, const char* key) const {
    std::vector<std::uint64_t> out;
    if (const auto* arr = t[key].as_array()) {
      for (const auto& e : *arr) {
        const auto v = e.value<std::int64_t>();
        if (!v || *v <= 0) fail(fmt::format("'{}' must hold positive integers", key));
        out.push_back(std::uint64_t(*v));
      }
    } else if (const auto v = t[key].value<std::int64_t>()) {
      if (*v <= 0) fail(fmt::format("'{}' must be positive", key));
      out.push_back(std::uint64_t(*v));
    } else {
      fail(fmt::format("'{}' is required: a size in bytes or a list of them", key));
    }
    return out;
  }
};

Curve read_curve(const Reader& r, const toml::table* t, Curve fallback) {
  if (!t) return fallback;
  Curve c{r.get(*t, "full", fallback.full), r.get(*t, "floor", fallback.floor)};
  if (!(c.full < c.floor)) r.fail("'full' must be smaller than 'floor'");
  return c;
}

}  // namespace

Rubric load_rubric(const std::filesystem::path& path) {
  toml::table doc;
  try {
    doc = toml::parse_file(path.string());
  } catch (const toml::parse_error& e) {
    throw Error(fmt::format("{}: not valid TOML: {} (line {})", path.string(), e.description(),
                            e.source().begin.line));
  }
  Reader r{path, ""};
  Rubric rb;
  rb.path = path;
  rb.lab = r.get<std::string>(doc, "lab", "", true);
  rb.title = r.get<std::string>(doc, "title", rb.lab);
  rb.api_header = r.get<std::string>(doc, "api_header", "", true);
  if (const auto* ed = doc["editable"].as_array())
    for (const auto& e : *ed)
      if (auto s = e.value<std::string>()) rb.editable.push_back(*s);
  if (rb.editable.empty()) r.fail("'editable' must list the files a submission provides");
  if (const auto* fb = doc["forbidden"].as_array())
    for (const auto& e : *fb) {
      const auto s = e.value<std::string>();
      if (!s || s->empty()) r.fail("'forbidden' must list function names as strings");
      rb.forbidden.push_back(*s);
    }
  rb.ranks = r.get(doc, "ranks", rb.ranks);
  rb.timeout = r.get(doc, "timeout", rb.timeout);
  rb.memory_mb = r.get(doc, "memory_mb", rb.memory_mb);
  if (const auto* cm = doc["cost_model"].as_table()) {
    rb.alpha = r.get(*cm, "alpha", rb.alpha);
    rb.beta = r.get(*cm, "beta", rb.beta);
    rb.gamma = r.get(*cm, "gamma", rb.gamma);
  }
  rb.speed = read_curve(r, doc["speed"].as_table(), rb.speed);
  if (const auto* sp = doc["speed"].as_table()) rb.speed_trials = r.get(*sp, "trials", rb.speed_trials);
  if (rb.speed_trials < 1) r.fail("[speed] trials must be at least 1");
  rb.model = read_curve(r, doc["model"].as_table(), rb.model);
  if (const auto* mt = doc["match"].as_table()) {
    rb.match_tolerance = r.get(*mt, "tolerance", rb.match_tolerance);
    rb.match_trials = r.get(*mt, "trials", rb.match_trials);
  }
  if (!(rb.match_tolerance > 1)) r.fail("[match] tolerance must be greater than 1");
  if (rb.match_trials < 1) r.fail("[match] trials must be at least 1");

  const auto* items = doc["item"].as_array();
  if (!items || items->empty()) r.fail("no [[item]] tables");
  for (std::size_t k = 0; k < items->size(); ++k) {
    const auto* t = (*items)[k].as_table();
    if (!t) r.fail(fmt::format("item {} is not a table", k + 1));
    Reader ir{path, fmt::format("item {}", k + 1)};
    Item it;
    it.name = ir.get<std::string>(*t, "name", "", true);
    ir.where = fmt::format("item '{}'", it.name);
    const std::string kind = ir.get<std::string>(*t, "kind", "", true);
    if (kind == "test") it.kind = ItemKind::test;
    else if (kind == "model") it.kind = ItemKind::model;
    else if (kind == "speed") it.kind = ItemKind::speed;
    else if (kind == "match") it.kind = ItemKind::match;
    else ir.fail(fmt::format("kind '{}' is not test, model, speed or match", kind));
    it.points = ir.get(*t, "points", 0.0, true);
    it.visibility = ir.get<std::string>(*t, "visibility", it.visibility);
    static const std::vector<std::string> vis{"visible", "hidden", "after_due_date", "after_published"};
    if (std::find(vis.begin(), vis.end(), it.visibility) == vis.end())
      ir.fail(fmt::format("visibility '{}' is not visible, hidden, after_due_date or after_published",
                          it.visibility));
    it.implementation = ir.get(*t, "implementation", true);
    it.ranks = ir.get(*t, "ranks", rb.ranks);
    if (it.ranks < 1) ir.fail("'ranks' must be at least 1");
    it.timeout = ir.get(*t, "timeout", rb.timeout);
    if (it.kind == ItemKind::test) {
      it.program = ir.get<std::string>(*t, "program", "public");
      it.filter = ir.get<std::string>(*t, "filter", "", true);
    } else {
      it.algo = ir.get<std::string>(*t, "algo", "", true);
      it.bytes = ir.sizes(*t, "bytes");
      if (it.kind != ItemKind::speed && it.bytes.size() != 1) ir.fail(fmt::format("a {} item takes one size", kind));
      it.leaderboard = ir.get<std::string>(*t, "leaderboard", "");
    }
    for (const auto& other : rb.items)
      if (other.name == it.name) ir.fail("two items have this name");
    rb.items.push_back(it);
  }
  return rb;
}

}  // namespace dtlab::grader
