#include "grade.hpp"

#include <fmt/format.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>

#include "dtlab/error.hpp"
#include "process.hpp"

namespace dtlab::grader {

namespace fs = std::filesystem;
using nlohmann::json;

int default_sandbox_uid(int slot) {
  if (geteuid() != 0) return -1;
  static std::mutex mu;
  static std::map<int, int> held;  // slot -> uid
  std::lock_guard lock(mu);
  if (const auto it = held.find(slot); it != held.end()) return it->second;
  for (int uid = 61000 + slot; uid < 62000; ++uid) {
    bool mine = false;
    for (const auto& [s, u] : held) mine |= u == uid;
    if (mine) continue;
    const std::string path = fmt::format("/tmp/dtlab-sandbox-{}.lock", uid);
    const int fd = open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) continue;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) {  // released when this process exits
      held[slot] = uid;
      return uid;
    }
    close(fd);
  }
  throw Error("every sandbox user from 61000 to 61999 is taken by another grading on this machine");
}

namespace {

std::string fresh_nonce() {
  std::random_device rd;
  std::string s;
  for (int i = 0; i < 4; ++i) s += fmt::format("{:08x}", rd());
  return s;
}

std::string tail(const std::string& s, std::size_t n) {
  return s.size() <= n ? s : "..." + s.substr(s.size() - n);
}

std::string read_capped(const fs::path& p, std::size_t cap) {
  std::ifstream in(p, std::ios::binary);
  if (!in) return "";
  std::string s(cap, '\0');
  in.read(s.data(), std::streamsize(cap));
  s.resize(std::size_t(in.gcount()));
  return s;
}

// The cores this process may run on.
int usable_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
}

bool timed(const Item& it) { return it.kind == ItemKind::speed || it.kind == ItemKind::match; }

// One run of a graded program under mpirun, and what it reported.
struct Run {
  Outcome outcome;
  std::optional<json> report;  // the nonce-marked block, if there was exactly one
  std::string problem;         // why there is no report
  std::string output;          // the tail of every rank's output, for the student
};

struct Runner {
  const Rubric& rubric;
  const GradeOptions& opt;
  fs::path work;
  int counter = 0;

  // timed: the run measures time, so each rank gets a core of its own where there are enough.
  Run run(const fs::path& program, const std::vector<std::string>& args, int ranks, double timeout, bool timed) {
    if (opt.timeout > 0) timeout = opt.timeout;
    const fs::path dir = work / "runs" / std::to_string(++counter);
    fs::create_directories(dir);
    fs::permissions(dir.parent_path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
    if (opt.sandbox_uid >= 0 && chown(dir.c_str(), opt.sandbox_uid, opt.sandbox_uid) != 0)
      throw Error(fmt::format("cannot hand {} to the sandbox user: {}", dir.string(), std::strerror(errno)));
    const std::string nonce = fresh_nonce();
    Spawn s;
    // Left to the scheduler, two ranks on a 2-core machine sometimes share one core, and a measured
    // latency then comes out 4x larger (Lab 00's ping-pong: 0.8 or 3.2 us for the same code): a
    // timed run pins its ranks to distinct cores when the grader may use enough of them.
    const bool pin = timed && ranks <= usable_cores();
    s.argv = {"mpirun", "--quiet", "-np", std::to_string(ranks), "--oversubscribe", "--bind-to", pin ? "core" : "none",
              "--mca", "mpi_yield_when_idle", "1", "--output-filename", (dir / "out").string(), program.string()};
    s.argv.insert(s.argv.end(), args.begin(), args.end());
    s.cwd = dir;
    s.env = {{"DTLAB_GRADER", "1"}, {"HOME", dir.string()}, {"TMPDIR", dir.string()}};
    if (geteuid() == 0 && opt.sandbox_uid < 0)
      s.env.insert(s.env.end(), {{"OMPI_ALLOW_RUN_AS_ROOT", "1"}, {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}});
    s.stdin_data = fmt::format("{} {}\n", nonce, ranks);
    s.uid = opt.sandbox_uid;
    s.limits.wall_seconds = timeout;
    s.limits.memory_bytes = rubric.memory_mb << 20;
    s.limits.job_memory_bytes = std::size_t(ranks + 1) * s.limits.memory_bytes;  // the ranks and mpirun
    Run r;
    r.outcome = run_sandboxed(s);
    std::string ranks_text;
    for (int k = 0; k < ranks; ++k)
      for (const char* stream : {"stderr", "stdout"}) {
        const std::string t = read_capped(dir / "out" / "1" / fmt::format("rank.{}", k) / stream, 1 << 20);
        if (!t.empty() && !(k == 0 && std::string(stream) == "stdout"))
          ranks_text += fmt::format("--- rank {} {} ---\n{}\n", k, stream, tail(t, 1500));
      }
    const std::string rank0 = read_capped(dir / "out" / "1" / "rank.0" / "stdout", 8 << 20);
    r.output = tail(rank0, 3000) + "\n" + tail(ranks_text, 4000) + tail(r.outcome.err, 2000);
    const std::string begin = "@@DTLAB-RESULT-BEGIN " + nonce + "@@", end = "@@DTLAB-RESULT-END " + nonce + "@@";
    const auto b = rank0.find(begin);
    const auto e = b == std::string::npos ? b : rank0.find(end, b);
    if (b == std::string::npos || e == std::string::npos) {
      r.problem = fmt::format("the program {} before reporting its results", r.outcome.ok() ? "ended" : r.outcome.describe());
    } else if (rank0.find(begin, b + 1) != std::string::npos) {
      r.problem = "the results were reported twice, which the test harness never does: output was tampered with";
    } else {
      try {
        r.report = json::parse(rank0.substr(b + begin.size(), e - b - begin.size()));
        if (r.report->contains("error")) {
          r.problem = r.report->at("error").get<std::string>();
          r.report.reset();
        }
      } catch (const json::exception&) {
        r.problem = "the results block is not valid JSON: output was tampered with";
      }
    }
    if (!opt.keep) fs::remove_all(dir);
    return r;
  }

  // The reference's results: when it fails, the grading itself is broken, not the submission.
  json reference(const fs::path& program, const Item& it, const std::vector<std::string>& args) {
    Run r = run(program, args, it.ranks, it.timeout, timed(it));
    if (!r.report) throw Error(fmt::format("the reference failed on '{}': {}\n{}", it.name, r.problem, r.output));
    return r.report->at("results");
  }

  // The submission's report, or nothing with the reason (and its output) in why.
  std::optional<json> submission(const fs::path& program, const Item& it, const std::vector<std::string>& args,
                                 std::string& why) {
    Run r = run(program, args, it.ranks, it.timeout, timed(it));
    if (!r.report) why = fmt::format("No result: {}.\n{}", r.problem, r.output);
    return r.report;
  }
};

// ---- the three kinds of item ----

ItemResult grade_test(Runner& runner, const Item& it, const std::map<std::string, fs::path>& programs) {
  ItemResult res{&it};
  const auto prog = programs.find(it.program);
  if (prog == programs.end()) {
    res.output = fmt::format("this edition has no {} tests", it.program);
    return res;
  }
  const auto report =
      runner.submission(prog->second, it, {"--gtest_filter=" + it.filter, "--gtest_color=no"}, res.output);
  if (!report) return res;
  const json& tests = report->at("tests");
  if (tests.empty()) {
    res.output = fmt::format("the rubric's filter '{}' matches no test: a rubric mistake", it.filter);
    return res;
  }
  std::size_t passed = 0;
  std::string failures;
  for (const auto& t : tests) {
    if (t.at("passed").get<bool>()) {
      ++passed;
      continue;
    }
    failures += fmt::format("FAILED {} (on ranks {})\n{}\n", t.at("name").get<std::string>(),
                            t.at("failed_on_ranks").dump(), tail(t.at("message").get<std::string>(), 1200));
  }
  res.score = it.points * double(passed) / double(tests.size());
  res.output = fmt::format("{} of {} tests passed in a job of {} rank{}.\n{}", passed, tests.size(), it.ranks,
                           it.ranks > 1 ? "s" : "", failures);
  res.detail = {{"tests", tests}};
  return res;
}

struct ReferenceCache {
  std::mutex m;
  std::map<std::string, json> results;
};
ReferenceCache& reference_cache() {
  static ReferenceCache c;
  return c;
}

// The reference's report for a deterministic run, computed once per grading process.
json reference_report(Runner& runner, const Item& it, const std::vector<std::string>& args,
                      const fs::path& reference_bench) {
  const std::string key = fmt::format("{} {} {}", runner.rubric.lab, it.ranks, fmt::join(args, " "));
  std::lock_guard lock(reference_cache().m);
  auto found = reference_cache().results.find(key);
  if (found == reference_cache().results.end())
    found = reference_cache().results.emplace(key, runner.reference(reference_bench, it, args)).first;
  return found->second;
}

// The submission's benchmark results when they count (the run was correct), else nothing and why.
std::optional<json> counted_results(Runner& runner, const fs::path& program, const Item& it,
                                    const std::vector<std::string>& args, std::string& why) {
  const auto report = runner.submission(program, it, args, why);
  if (!report) return std::nullopt;
  const json& got = report->at("results");
  if (got.value("correct", false)) return got;
  why = got.value("problem", std::string("the result was wrong in this run, so its cost does not count"));
  return std::nullopt;
}

// One line per metric, "mine vs reference, ratio".
std::string metric_line(const std::string& metric, double mine, double theirs, double ratio) {
  return fmt::format("  {:<24} {:>14.6g}   reference {:>14.6g}   ratio {:.3f}\n", metric, mine, theirs, ratio);
}

ItemResult grade_model(Runner& runner, const Item& it, const std::map<std::string, fs::path>& programs,
                       const fs::path& reference_bench) {
  ItemResult res{&it};
  const Rubric& rb = runner.rubric;
  const std::vector<std::string> args{"model", it.algo, std::to_string(it.bytes[0]), fmt::format("{:.17g}", rb.alpha),
                                      fmt::format("{:.17g}", rb.beta), fmt::format("{:.17g}", rb.gamma)};
  const json ref = reference_report(runner, it, args, reference_bench);
  const auto counted = counted_results(runner, programs.at("bench"), it, args, res.output);
  if (!counted) return res;
  const json& got = *counted;
  // Every metric is a cost (lower is better); the score is the worst ratio's.
  double fraction = 1;
  std::string lines = fmt::format("{} on {} ranks, size {}, cost model alpha={:.3g} s beta={:.3g} s/B gamma={:.3g} s/B\n",
                                  it.algo, it.ranks, it.bytes[0], rb.alpha, rb.beta, rb.gamma);
  for (const auto& [metric, value] : ref.at("metrics").items()) {
    if (!got.at("metrics").contains(metric)) {
      res.output = fmt::format("the benchmark reported no '{}'", metric);
      return res;
    }
    const double mine = got.at("metrics").at(metric).get<double>(), theirs = value.get<double>();
    const double ratio = theirs > 0 ? mine / theirs : (mine > 0 ? INFINITY : 1.0);
    fraction = std::min(fraction, rb.model.score(ratio));
    lines += metric_line(metric, mine, theirs, ratio);
  }
  if (got.contains("note")) lines += got.at("note").get<std::string>() + "\n";
  res.score = it.points * fraction;
  res.output = lines + fmt::format("Full marks up to {}x the reference, none from {}x.", rb.model.full, rb.model.floor);
  res.detail = {{"submission", got}, {"reference", ref}};
  return res;
}

// Measured quantities that should agree with the reference's measured in the same grading run
// (e.g. a fitted latency and bandwidth): alternate runs, compare medians within a tolerance band.
ItemResult grade_match(Runner& runner, const Item& it, const std::map<std::string, fs::path>& programs,
                       const fs::path& reference_bench) {
  ItemResult res{&it};
  const Rubric& rb = runner.rubric;
  const std::vector<std::string> args{"match", it.algo, std::to_string(it.bytes[0])};
  std::map<std::string, std::vector<double>> mine, ref;
  for (int t = 0; t < rb.match_trials; ++t) {
    const json theirs = runner.reference(reference_bench, it, args);  // named: a range-for over a
    for (const auto& [k, v] : theirs.at("metrics").items())           // temporary's member dangles
      ref[k].push_back(v.get<double>());
    const auto counted = counted_results(runner, programs.at("bench"), it, args, res.output);
    if (!counted) return res;
    const json& got = *counted;
    for (const auto& [k, v] : got.at("metrics").items()) mine[k].push_back(v.get<double>());
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::size_t inside = 0;
  std::string lines = fmt::format("{} on {} ranks, median of {} runs each, alternating with the reference\n",
                                  it.algo, it.ranks, rb.match_trials);
  json rows = json::object();
  for (const auto& [metric, values] : ref) {
    const auto m = mine.find(metric);
    if (m == mine.end() || m->second.size() != values.size()) {
      res.output = fmt::format("the benchmark reported no '{}'", metric);
      return res;
    }
    const double a = median(m->second), b = median(values);
    const double ratio = b != 0 ? a / b : (a == 0 ? 1.0 : INFINITY);
    const bool ok = ratio >= 1 / rb.match_tolerance && ratio <= rb.match_tolerance;
    inside += ok;
    lines += metric_line(metric, a, b, ratio);
    rows[metric] = {{"submission", a}, {"reference", b}, {"ratio", ratio}, {"within", ok}};
  }
  res.score = it.points * double(inside) / double(std::max<std::size_t>(ref.size(), 1));
  res.output = lines + fmt::format("Each value earns its share when within {}x of the reference's, either way.",
                                   rb.match_tolerance);
  res.detail = {{"metrics", rows}};
  return res;
}

ItemResult grade_speed(Runner& runner, const Item& it, const std::map<std::string, fs::path>& programs,
                       const fs::path& reference_bench, json& leaderboard) {
  ItemResult res{&it};
  const Rubric& rb = runner.rubric;
  std::vector<std::string> args{"time", it.algo};
  for (auto b : it.bytes) args.push_back(std::to_string(b));
  std::vector<double> best_mine(it.bytes.size(), INFINITY), best_ref(it.bytes.size(), INFINITY);
  json last_mine;  // the submission's last report, for its notes and leaderboard values
  // One round: the reference, then the submission, so that both see the same machine; each keeps
  // its fastest run. False when the submission's result was wrong (speed does not count then).
  const auto round = [&]() -> bool {
    const json ref = runner.reference(reference_bench, it, args);
    const auto mine = runner.submission(programs.at("bench"), it, args, res.output);
    if (!mine) return false;
    last_mine = mine->at("results");
    for (std::size_t k = 0; k < it.bytes.size(); ++k) {
      const json& m = last_mine.at(k);
      if (!m.value("correct", false)) {
        res.output = fmt::format("wrong result at size {}{}: speed does not count", it.bytes[k],
                                 m.contains("problem") ? " (" + m.at("problem").get<std::string>() + ")" : "");
        return false;
      }
      best_mine[k] = std::min(best_mine[k], m.at("seconds").get<double>());
      best_ref[k] = std::min(best_ref[k], ref.at(k).at("seconds").get<double>());
    }
    return true;
  };
  int rounds = 0;
  for (; rounds < rb.speed_trials; ++rounds)
    if (!round()) return res;
  // Before a size loses points, as many rounds again: a slow submission stays slow in them, while
  // a run the machine disturbed (on a 2-vCPU virtual machine one size can vary by 30%) no longer
  // takes points from code as fast as the reference's.
  const auto losing = [&] {
    for (std::size_t k = 0; k < it.bytes.size(); ++k)
      if (rb.speed.score(best_mine[k] / best_ref[k]) < 1) return true;
    return false;
  };
  for (const int more = rounds * 2; rounds < more && losing(); ++rounds)
    if (!round()) return res;
  double total = 0;
  std::string lines = fmt::format("{} on {} ranks, fastest of {} runs each, alternating with the reference\n",
                                  it.algo, it.ranks, rounds);
  json rows = json::array();
  for (std::size_t k = 0; k < it.bytes.size(); ++k) {
    const double ratio = best_mine[k] / best_ref[k];
    const double s = rb.speed.score(ratio);
    total += s;
    lines += fmt::format("  {:>10} bytes   yours {:>10.2f} us   reference {:>10.2f} us   ratio {:.2f}   {:.0f}%\n",
                         it.bytes[k], best_mine[k] * 1e6, best_ref[k] * 1e6, ratio, 100 * s);
    if (last_mine.at(k).contains("note")) lines += "    " + last_mine.at(k).at("note").get<std::string>() + "\n";
    rows.push_back({{"bytes", it.bytes[k]}, {"seconds", best_mine[k]}, {"reference_seconds", best_ref[k]},
                    {"ratio", ratio}});
  }
  res.score = it.points * total / double(it.bytes.size());
  res.output = lines + fmt::format("Full marks up to {}x the reference's time, none from {}x.", rb.speed.full, rb.speed.floor);
  res.detail = {{"sizes", rows}};
  // The benchmark says what its leaderboard value is (e.g. bus bandwidth) for one run's time: the
  // grader hands it the fastest time seen.
  if (!it.leaderboard.empty() && last_mine.back().contains("leaderboard_per_second")) {
    const double value = last_mine.back().at("leaderboard_per_second").get<double>() / best_mine.back();
    leaderboard.push_back({{"name", it.leaderboard}, {"value", std::round(value * 1000) / 1000}, {"order", "desc"}});
  }
  return res;
}

bool selected(const Item& it, const std::vector<std::string>& only) {
  if (only.empty()) return true;
  for (const auto& o : only)
    if (it.name == o || it.name.find(o) != std::string::npos) return true;
  return false;
}

}  // namespace

GradeResult grade(const Rubric& rubric, const LabBuild& lab, const GradeOptions& opt) {
  const auto start = std::chrono::steady_clock::now();
  GradeResult g;
  g.lab = rubric.lab;
  g.title = rubric.title;
  g.submission = opt.source.describe();
  for (const auto& it : rubric.items)
    if (selected(it, opt.only)) g.max_score += it.points;
  if (g.max_score == 0 && !opt.only.empty())
    throw Error(fmt::format("--only {}: no item of {} matches", fmt::join(opt.only, ", "), rubric.lab));

  std::string tmpl = ((opt.work_root.empty() ? fs::temp_directory_path() : opt.work_root) / "dtlab-grade-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) throw Error(fmt::format("cannot create a work folder in {}", tmpl));
  const fs::path work = tmpl;
  // The sandbox user must reach the runs folder inside (mkdtemp makes it private).
  fs::permissions(work, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  struct Cleanup {
    fs::path p;
    bool keep;
    ~Cleanup() {
      std::error_code ec;
      if (!keep) fs::remove_all(p, ec);
    }
  } cleanup{work, opt.keep};
  if (opt.verbose) std::fprintf(stderr, "grading %s: building %s in %s\n", rubric.lab.c_str(), g.submission.c_str(), work.c_str());

  const Prepared built = prepare(rubric, lab, opt.source, work / "build");
  g.built = built.ok;
  g.build_log = built.log;
  // A copy the sandbox user can surely run: the build folder may be private to the grader.
  const fs::path reference_bench = work / "reference-bench";
  fs::copy_file(lab.programs.at("bench").reference, reference_bench);
  fs::permissions(reference_bench, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                       fs::perms::others_read | fs::perms::others_exec);
  Runner runner{rubric, opt, work};
  for (const auto& it : rubric.items) {
    if (!selected(it, opt.only)) continue;
    if (it.kind == ItemKind::test && !lab.programs.count(it.program)) {
      // The student edition has no hidden tests: those items are the instructor's to grade.
      g.max_score -= it.points;
      g.skipped.push_back(it.name);
      continue;
    }
    ItemResult res{&it};
    const auto t0 = std::chrono::steady_clock::now();
    if (!built.ok) {
      res.output = "The submission did not build, so nothing could run:\n" + tail(built.log, 6000);
    } else {
      if (opt.verbose) std::fprintf(stderr, "  %s ...\n", it.name.c_str());
      switch (it.kind) {
        case ItemKind::test: res = grade_test(runner, it, built.programs); break;
        case ItemKind::model: res = grade_model(runner, it, built.programs, reference_bench); break;
        case ItemKind::speed: res = grade_speed(runner, it, built.programs, reference_bench, g.leaderboard); break;
        case ItemKind::match: res = grade_match(runner, it, built.programs, reference_bench); break;
      }
    }
    res.score = std::round(res.score * 1000) / 1000;
    res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    g.score += res.score;
    g.items.push_back(std::move(res));
  }
  g.score = std::round(g.score * 1000) / 1000;
  g.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return g;
}

}  // namespace dtlab::grader
