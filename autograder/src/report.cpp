#include "report.hpp"

#include <algorithm>

#include <fmt/format.h>

#include <cmath>

namespace dtlab::grader {

using nlohmann::json;

namespace {

// Gradescope shows output as text; keep it readable and bounded.
std::string clip(const std::string& s, std::size_t n = 20000) {
  return s.size() <= n ? s : s.substr(0, n / 2) + "\n[...]\n" + s.substr(s.size() - n / 2);
}


// JSON must be valid UTF-8, and a submission may print any bytes: bad sequences become U+FFFD.
std::string clean(const std::string& s) {
  const std::string quoted = json(s).dump(-1, ' ', false, json::error_handler_t::replace);
  return json::parse(quoted).get<std::string>();
}

std::vector<std::string> tags(const Item& it) {
  std::vector<std::string> t{to_string(it.kind)};
  if (it.kind == ItemKind::test) t.push_back(it.program);
  else t.push_back(it.algo);
  return t;
}

}  // namespace

json gradescope_results(const GradeResult& g) {
  json tests = json::array();
  int number = 0;
  for (const auto& r : g.items)
    tests.push_back({{"name", r.item->name},
                     {"number", std::to_string(++number)},
                     {"score", r.score},
                     {"max_score", r.item->points},
                     {"status", r.passed() ? "passed" : "failed"},
                     {"output", clean(clip(r.output))},
                     {"output_format", "text"},
                     {"visibility", r.item->visibility},
                     {"tags", tags(*r.item)}});
  std::string output = fmt::format("{} ({}): {:g} / {:g} points.", g.lab, g.title, g.score, g.max_score);
  if (!g.skipped.empty())
    output += fmt::format("\nNot graded here (hidden tests, graded by the instructor): {}.", fmt::join(g.skipped, ", "));
  if (!g.built) output += "\nThe submission did not build:\n" + clip(g.build_log, 8000);
  return {{"score", g.score},
          {"execution_time", int(std::lround(g.seconds))},
          {"output", clean(output)},
          {"output_format", "text"},
          {"test_output_format", "text"},
          {"visibility", "visible"},
          {"stdout_visibility", "hidden"},
          {"tests", tests},
          {"leaderboard", g.leaderboard}};
}

json gradescope_failure(const Rubric& rubric, const std::string& why) {
  json tests = json::array();
  int number = 0;
  for (const auto& it : rubric.items)
    tests.push_back({{"name", it.name},
                     {"number", std::to_string(++number)},
                     {"score", 0},
                     {"max_score", it.points},
                     {"status", "failed"},
                     {"output", "Not graded: " + clean(why)},
                     {"visibility", it.visibility},
                     {"tags", tags(it)}});
  return {{"score", 0},
          {"execution_time", 0},
          {"output", clean("The submission could not be graded: " + why)},
          {"visibility", "visible"},
          {"stdout_visibility", "hidden"},
          {"tests", tests},
          {"leaderboard", json::array()}};
}

std::string table(const GradeResult& g) {
  std::string t = fmt::format("\n{} ({}), {}\n", g.lab, g.title, g.submission);
  if (!g.built) t += "The submission did not build:\n" + clip(g.build_log, 4000) + "\n";
  std::size_t w = 48;  // the item column fits the longest name
  for (const auto& r : g.items) w = std::max(w, r.item->name.size());
  t += fmt::format("  {:<4} {:<{}} {:>7} {:>7} {:>7}\n", "", "item", w, "kind", "score", "of");
  for (const auto& r : g.items)
    t += fmt::format("  {:<4} {:<{}} {:>7} {:>7.2f} {:>7.2f}\n", r.passed() ? "ok" : (r.score > 0 ? "part" : "FAIL"),
                     r.item->name, w, to_string(r.item->kind), r.score, r.item->points);
  t += fmt::format("  {:<4} {:<{}} {:>7} {:>7.2f} {:>7.2f}   ({:.0f} s)\n", "", "total", w, "", g.score, g.max_score,
                   g.seconds);
  if (!g.skipped.empty())
    t += fmt::format("  not graded here (hidden tests, graded by the instructor): {}\n", fmt::join(g.skipped, ", "));
  return t;
}

namespace {
std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

// Bars of T / T_ref for one speed item, with the full-marks and zero lines.
std::string speed_svg(const ItemResult& r) {
  if (!r.detail.contains("sizes")) return "";
  const auto& rows = r.detail["sizes"];
  const int w = 520, bar = 26, h = int(rows.size()) * (bar + 8) + 30;
  auto x = [](double ratio) { return 160 + std::min(ratio, 3.5) / 3.5 * 340; };
  std::string s = fmt::format("<svg width=\"{}\" height=\"{}\" role=\"img\" aria-label=\"time over reference\">", w, h);
  int y = 10;
  for (const auto& row : rows) {
    const double ratio = row["ratio"].get<double>();
    const char* color = ratio <= 1.2 ? "#2e7d32" : ratio >= 3.0 ? "#c62828" : "#f9a825";
    s += fmt::format("<text x=\"4\" y=\"{}\" font-size=\"12\">{} bytes</text>", y + 17, row["bytes"].get<std::uint64_t>());
    s += fmt::format("<rect x=\"160\" y=\"{}\" width=\"{:.1f}\" height=\"{}\" fill=\"{}\"/>", y, x(ratio) - 160, bar, color);
    s += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"12\">{:.2f}x</text>", x(ratio) + 4, y + 17, ratio);
    y += bar + 8;
  }
  for (const double mark : {1.0, 1.2, 3.0})
    s += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"4\" y2=\"{1}\" stroke=\"#555\" stroke-dasharray=\"3,3\"/>"
                     "<text x=\"{0:.1f}\" y=\"{2}\" font-size=\"10\" text-anchor=\"middle\">{3}x</text>",
                     x(mark), y, y + 12, mark);
  return s + "</svg>";
}
}  // namespace

std::string html(const GradeResult& g) {
  std::string rows;
  for (const auto& r : g.items)
    rows += fmt::format("<tr class=\"{}\"><td>{}</td><td>{}</td><td>{:.2f} / {:g}</td></tr>\n",
                        r.passed() ? "ok" : "bad", esc(r.item->name), to_string(r.item->kind), r.score, r.item->points);
  std::string details;
  for (const auto& r : g.items)
    details += fmt::format("<h3>{}</h3>{}<pre>{}</pre>\n", esc(r.item->name), speed_svg(r), esc(clip(r.output)));
  return fmt::format(R"(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{0} grade</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.2em .8em;text-align:left}}
tr.ok td:last-child{{color:#2e7d32}}tr.bad td:last-child{{color:#c62828}}pre{{background:#f4f4f4;padding:.6em;overflow-x:auto}}</style>
</head><body>
<h1>{0}: {1}</h1>
<p>{2}: <strong>{3:g} / {4:g}</strong> points in {5:.0f} s.</p>
{6}
<table><tr><th>item</th><th>kind</th><th>score</th></tr>
{7}</table>
{8}
</body></html>
)",
                     esc(g.lab), esc(g.title), esc(g.submission), g.score, g.max_score, g.seconds,
                     g.built ? "" : "<h2>The submission did not build</h2><pre>" + esc(clip(g.build_log)) + "</pre>", rows,
                     details);
}

}  // namespace dtlab::grader
