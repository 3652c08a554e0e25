// dtlab grade: the autograder. One submission, a whole class (--batch), or the self-check.
#include <fmt/format.h>

#include <atomic>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "commands.hpp"
#include "dtlab/error.hpp"
#include "dtlab/io.hpp"
#include "grade.hpp"
#include "report.hpp"

namespace dtlab::cli {

namespace fs = std::filesystem;
using namespace dtlab::grader;

namespace {

struct GradeCmdOptions {
  std::string lab;
  std::string submission;
  bool reference = false;
  std::string results = "results.json";
  std::string html;
  std::vector<std::string> only;
  bool keep = false;
  bool quiet = false;
  std::string batch;
  std::string out;
  std::string csv;
  int jobs = 1;
  bool all = false;
  bool self_check = false;
  double timeout = 0;
};

Rubric rubric_of(const LabBuild& lab) { return load_rubric(lab.dir / "rubric.toml"); }

Source source_of(const std::string& path) {
  if (path.empty()) return {Source::starter, {}};
  if (!fs::exists(path)) throw Error(fmt::format("--submission {}: no such file or folder", path));
  return {fs::is_directory(path) ? Source::folder : Source::archive, fs::absolute(path)};
}

int grade_one(const GradeCmdOptions& o) {
  const LabBuild lab = load_lab_build(o.lab);
  if (o.reference && !lab.reference_sources)
    throw Error("this is the student edition: it has no reference solution to grade, only its prebuilt library "
                "for the speed and cost items");
  const Rubric rubric = rubric_of(lab);
  GradeOptions g;
  g.source = o.reference ? Source{Source::reference, {}} : source_of(o.submission);
  g.only = o.only;
  g.keep = o.keep;
  g.verbose = !o.quiet;
  g.sandbox_uid = default_sandbox_uid();
  g.timeout = o.timeout;
  GradeResult res;
  try {
    res = grade(rubric, lab, g);
  } catch (const Error& e) {
    // Whatever happened, Gradescope gets a valid results file.
    if (!o.results.empty()) write_json_file(o.results, gradescope_failure(rubric, e.what()).dump(2));
    throw;
  }
  if (!o.results.empty()) write_json_file(o.results, gradescope_results(res).dump(2));
  if (!o.html.empty()) write_file_atomic(o.html, html(res));
  if (!o.quiet)
    for (const auto& r : res.items)
      if (!r.passed()) std::printf("\n--- %s (%.2f / %g)\n%s\n", r.item->name.c_str(), r.score, r.item->points, r.output.c_str());
  std::printf("%s", table(res).c_str());
  if (!o.quiet && !o.results.empty()) std::printf("wrote %s\n", o.results.c_str());
  return 0;
}

std::string csv_field(const std::string& s) {
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

int grade_batch(const GradeCmdOptions& o) {
  const LabBuild lab = load_lab_build(o.lab);
  const Rubric rubric = rubric_of(lab);
  if (!fs::is_directory(o.batch)) throw Error(fmt::format("--batch {}: not a folder", o.batch));
  std::vector<fs::path> subs;
  for (const auto& e : fs::directory_iterator(o.batch))
    if (e.path().filename().string()[0] != '.') subs.push_back(e.path());
  std::sort(subs.begin(), subs.end());
  if (subs.empty()) throw Error(fmt::format("--batch {}: no submissions in it", o.batch));
  const fs::path out = o.out.empty() ? fs::path(o.batch).parent_path() / (fs::path(o.batch).filename().string() + "-grades")
                                     : fs::path(o.out);
  fs::create_directories(out);
  if (o.jobs > 1 && !o.quiet)
    std::fprintf(stderr, "note: %d submissions graded at once share the machine: speed items are noisier\n", o.jobs);
  std::vector<std::string> rows(subs.size());
  std::atomic<std::size_t> next{0};
  std::mutex print;
  auto worker = [&](int slot) {
    for (std::size_t k; (k = next++) < subs.size();) {
      const fs::path& sub = subs[k];
      const std::string name = sub.filename().string();
      std::string row = csv_field(name);
      try {
        GradeOptions g;
        g.source = fs::is_directory(sub) ? Source{Source::folder, fs::absolute(sub)} : Source{Source::archive, fs::absolute(sub)};
        g.only = o.only;
        g.sandbox_uid = default_sandbox_uid(slot);
        g.timeout = o.timeout;
        const GradeResult res = grade(rubric, lab, g);
        fs::create_directories(out / name);
        write_json_file((out / name / "results.json").string(), gradescope_results(res).dump(2));
        row += fmt::format(",{:g},{:g},", res.score, res.max_score);
        // One column per rubric item, matched by name: an item this grading skipped (--only, or
        // hidden tests absent from the student edition) leaves its column empty.
        for (const auto& it : rubric.items) {
          const auto r = std::find_if(res.items.begin(), res.items.end(),
                                      [&](const ItemResult& x) { return x.item && x.item->name == it.name; });
          row += r == res.items.end() ? std::string(",") : fmt::format(",{:g}", r->score);
        }
        std::lock_guard lock(print);
        if (!o.quiet) std::printf("%-40s %7.2f / %g\n", name.c_str(), res.score, res.max_score);
      } catch (const std::exception& e) {
        // One broken submission never stops the batch.
        fs::create_directories(out / name);
        write_json_file((out / name / "results.json").string(), gradescope_failure(rubric, e.what()).dump(2));
        row += fmt::format(",0,{:g},{}", rubric.total_points(), csv_field(e.what()));
        std::lock_guard lock(print);
        std::printf("%-40s not graded: %s\n", name.c_str(), e.what());
      }
      rows[k] = row;
    }
  };
  std::vector<std::thread> pool;
  for (int s = 0; s < std::max(1, o.jobs); ++s) pool.emplace_back(worker, s);
  for (auto& t : pool) t.join();
  std::string csv = "submission,score,max_score,error";
  for (const auto& it : rubric.items) csv += "," + csv_field(it.name);
  csv += "\n";
  for (const auto& r : rows) csv += r + "\n";
  const std::string csv_path = o.csv.empty() ? (out / "grades.csv").string() : o.csv;
  write_file_atomic(csv_path, csv);
  if (!o.quiet) std::printf("wrote %s and %zu results.json under %s\n", csv_path.c_str(), subs.size(), out.c_str());
  return 0;
}

// The reference must earn every point; the starter none on implementation items.
int self_check(const GradeCmdOptions& o) {
  const std::vector<std::string> labs = o.all ? known_labs() : std::vector<std::string>{o.lab};
  std::vector<std::string> failures;  // one line each, repeated after every table for the verdict
  bool measured_only = true;          // every failure is of a measured item on the reference
  for (const auto& name : labs) {
    const LabBuild lab = load_lab_build(name);
    const Rubric rubric = rubric_of(lab);
    for (const bool reference : {true, false}) {
      GradeOptions g;
      g.source = reference ? Source{Source::reference, {}} : Source{Source::starter, {}};
      g.only = o.only;
      g.verbose = !o.quiet;
      g.sandbox_uid = default_sandbox_uid();
      g.timeout = o.timeout;
      const GradeResult res = grade(rubric, lab, g);
      std::printf("%s", table(res).c_str());
      for (const auto& r : res.items) {
        const bool bad = reference ? !r.passed() : (r.item->implementation && r.score > 0);
        if (bad) {
          const bool measured = reference && (r.item->kind == ItemKind::speed || r.item->kind == ItemKind::match);
          measured_only = measured_only && measured;
          failures.push_back(fmt::format("{} {}: '{}' scored {:.2f} of {:g}", name, reference ? "reference" : "starter",
                                         r.item->name, r.score, r.item->points));
          std::printf("SELF-CHECK FAILED: %s\n%s\n", failures.back().c_str(), r.output.c_str());
        }
      }
    }
  }
  if (failures.empty()) {
    std::printf("\nself-check passed: the reference scores full marks and the starter 0 on every implementation item\n");
    return 0;
  }
  std::printf("\nself-check FAILED: the reference must score full marks and the starter 0 on every implementation "
              "item; %zu did not (each one's measurements are above):\n", failures.size());
  for (const auto& f : failures) std::printf("  %s\n", f.c_str());
  if (measured_only)
    std::printf("Only measured items failed, on the reference: timings disturbed by other work on this machine. Run "
                "the self-check again on an idle machine (`./dtlab grade LAB --reference --only 'ITEM'` for one "
                "item); if it fails again, report it with the output above (docs/troubleshooting.md).\n");
  else
    std::printf("A deterministic item failed: the build is not what the rubric expects. Rebuild (`./dtlab build`) "
                "and run again; if it fails again, report it with the output above (docs/troubleshooting.md).\n");
  return 1;
}

}  // namespace

void add_grade(CLI::App& app, Command& cmd) {
  auto o = std::make_shared<GradeCmdOptions>();
  auto* c = app.add_subcommand("grade", "Grade a lab: your working copy, a submission, a class, or the self-check");
  cmd.app = c;
  cmd.uses_mpi = false;
  c->add_option("lab", o->lab, "The lab, e.g. lab01");
  c->add_option("--submission,-s", o->submission, "A submission folder, or a .zip / .tar(.gz) archive");
  c->add_flag("--reference", o->reference, "Grade the reference solution");
  c->add_option("--results", o->results, "Gradescope results.json to write (empty: none)");
  c->add_option("--html", o->html, "Also write an HTML report");
  c->add_option("--only", o->only, "Run only the items whose name contains this (repeatable)");
  c->add_flag("--keep", o->keep, "Keep the work folder (to debug the grader)");
  c->add_option("--timeout", o->timeout, "Seconds per run instead of the rubric's")->check(CLI::Range(1.0, 3600.0));
  c->add_flag("--quiet,-q", o->quiet, "Print only the table");
  c->add_option("--batch", o->batch, "Grade every submission (folder or archive) in this folder");
  c->add_option("--out", o->out, "With --batch: where each results.json goes (default: BATCH-grades)");
  c->add_option("--csv", o->csv, "With --batch: the grades table (default: OUT/grades.csv)");
  c->add_option("--jobs,-j", o->jobs, "With --batch: submissions graded at once")->check(CLI::Range(1, 64));
  c->add_flag("--all", o->all, "With --self-check: every lab");
  c->add_flag("--self-check", o->self_check, "Check that the reference scores full marks and the starter 0");
  cmd.run = [o] {
    // A grade never depends on a machine's tuning: the reference's choose_allreduce uses its fixed
    // switch points here, whatever `dtlab bench allreduce --tune` wrote.
    unsetenv("DTLAB_ALLREDUCE_RULES");
    if (o->self_check) {
      if (!o->all && o->lab.empty()) throw Error("--self-check needs a lab or --all");
      return self_check(*o);
    }
    if (o->lab.empty()) throw Error(fmt::format("which lab? one of: {}", fmt::join(known_labs(), ", ")));
    if (!o->batch.empty()) return grade_batch(*o);
    return grade_one(*o);
  };
}

}  // namespace dtlab::cli
