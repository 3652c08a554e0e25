// The grader graded: wrong solutions lose exactly the items they should, hostile ones neither
// crash it nor fool it, results.json always follows Gradescope's format, and the same submission
// always gets the same score.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "dtlab/error.hpp"
#include "dtlab/io.hpp"
#include "process.hpp"
#include "rubric.hpp"
#include "test_util.hpp"

namespace dtlab::grader {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const fs::path kSource = DTLAB_SOURCE_DIR;
const fs::path kLab01 = kSource / "labs" / "01-collectives";
constexpr int kSandboxUid = 61000;  // what `dtlab grade` uses when run as root

struct Ran {
  int code = -1;
  std::string out;
};

Ran dtlab(const std::string& args, const fs::path& cwd) {
  const fs::path log = cwd / "dtlab-output.txt";
  const std::string cmd = "cd " + cwd.string() + " && " + DTLAB_BIN + " " + args + " > " + log.string() + " 2>&1";
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128, read_file(log)};
}

// Gradescope's results.json, checked field by field against its specification.
void expect_gradescope_format(const json& r) {
  ASSERT_TRUE(r.is_object());
  EXPECT_TRUE(r.at("score").is_number());
  EXPECT_TRUE(r.at("execution_time").is_number_integer());
  EXPECT_TRUE(r.at("output").is_string());
  EXPECT_TRUE(r.at("leaderboard").is_array());
  ASSERT_TRUE(r.at("tests").is_array());
  double sum = 0;
  for (const auto& t : r.at("tests")) {
    EXPECT_TRUE(t.at("name").is_string());
    EXPECT_TRUE(t.at("score").is_number());
    EXPECT_TRUE(t.at("max_score").is_number());
    EXPECT_LE(t.at("score").get<double>(), t.at("max_score").get<double>() + 1e-9);
    EXPECT_TRUE(t.at("status") == "passed" || t.at("status") == "failed");
    EXPECT_TRUE(t.at("output").is_string());
    const std::string v = t.at("visibility");
    EXPECT_TRUE(v == "visible" || v == "hidden" || v == "after_due_date" || v == "after_published") << v;
    EXPECT_TRUE(t.at("tags").is_array());
    sum += t.at("score").get<double>();
  }
  EXPECT_NEAR(sum, r.at("score").get<double>(), 1e-6);
  for (const auto& l : r.at("leaderboard")) {
    EXPECT_TRUE(l.at("name").is_string());
    EXPECT_TRUE(l.at("value").is_number());
  }
}

// Items that scored less than `keep` of their points.
std::set<std::string> lost_items(const json& r, double keep = 1.0) {
  std::set<std::string> lost;
  for (const auto& t : r.at("tests"))
    if (t.at("score").get<double>() < keep * t.at("max_score").get<double>() - 1e-9) lost.insert(t.at("name"));
  return lost;
}

// Every lab of the tree, found by its rubric: its id, its folder and the file a submission provides.
struct Lab {
  std::string id;
  fs::path dir;
  std::string editable;             // the first editable file: where a patch applies by default
  std::vector<std::string> files;   // every editable file
};

std::vector<Lab> labs() {
  std::vector<Lab> out;
  for (const auto& e : fs::directory_iterator(kSource / "labs"))
    if (fs::exists(e.path() / "rubric.toml")) {
      const Rubric r = load_rubric(e.path() / "rubric.toml");
      out.push_back({r.lab, e.path(), r.editable.at(0), r.editable});
    }
  std::sort(out.begin(), out.end(), [](const Lab& a, const Lab& b) { return a.id < b.id; });
  return out;
}

void PrintTo(const Lab& l, std::ostream* os) { *os << l.id; }

Lab lab(const std::string& id) {
  for (auto& l : labs())
    if (l.id == id) return l;
  throw Error("no lab " + id);
}

std::set<std::string> all_items(const Lab& l) {
  std::set<std::string> all;
  for (const auto& it : load_rubric(l.dir / "rubric.toml").items) all.insert(it.name);
  return all;
}

// No submission process survives its grading.
void expect_nothing_left_running() {
  if (geteuid() == 0) {
    EXPECT_TRUE(user_processes(kSandboxUid).empty()) << "processes of the sandbox user survived";
  }
}

// A submission made from a lab's reference or starter with text patches (tests/grader/<lab>/*.toml).
// The cases grade with short timeouts, so that a deadlock costs little. Sanitized programs run
// about 10x slower (one Lab 00 training epoch: 5.5 s in the release build, 57 s under ASan at -O1),
// and a slow run must not pass for a hang: their timeouts are scaled.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kSlowdown = 10;
#else
constexpr int kSlowdown = 1;
#endif

struct Case {
  Lab lab;
  std::string name, what, base;
  std::string file;  // the editable file the patch changes (default: the lab's first)
  std::vector<std::pair<std::string, std::string>> patch;
  std::set<std::string> loses, may_lose;
  std::vector<std::string> only;
  bool root_only = false;
  bool needs_memory_limit = false;  // skipped where the grader cannot limit memory (docs/grader.md)
  int timeout = 10;  // seconds per run: short, so that deadlocks cost little
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

std::vector<Case> load_cases(const Lab& l, const std::string& file, const char* key) {
  std::vector<Case> cases;
  const fs::path path = kSource / "tests/grader" / l.id / file;
  if (!fs::exists(path)) return cases;
  const toml::table doc = toml::parse_file(path.string());
  for (const auto& node : *doc[key].as_array()) {
    const auto& t = *node.as_table();
    Case c;
    c.lab = l;
    c.name = t["name"].value_or("");
    c.what = t["what"].value_or("");
    c.base = t["base"].value_or("reference");
    c.file = t["file"].value_or(l.editable);
    c.root_only = t["root_only"].value_or(false);
    c.needs_memory_limit = t["needs_memory_limit"].value_or(false);
    c.timeout = t["timeout"].value_or(c.timeout);
    for (const auto& p : *t["patch"].as_array()) {
      const auto& pair = *p.as_array();
      c.patch.emplace_back(pair[0].value_or(""), pair[1].value_or(""));
    }
    auto names = [&](const char* k) {
      std::set<std::string> s;
      if (const auto* a = t[k].as_array())
        for (const auto& e : *a) s.insert(e.value_or(""));
      return s;
    };
    c.loses = names("loses");
    c.may_lose = names("may_lose");
    if (c.loses.count("*")) c.loses = all_items(l);
    for (const auto& o : names("only")) c.only.push_back(o);
    cases.push_back(c);
  }
  return cases;
}

std::vector<Case> every_labs_cases(const std::string& file, const char* key) {
  std::vector<Case> all;
  for (const auto& l : labs())
    for (auto& c : load_cases(l, file, key)) all.push_back(std::move(c));
  return all;
}

// The base's editable files, with the patch applied to c.file.
fs::path write_submission(const Case& c, const fs::path& dir) {
  fs::create_directories(dir);
  for (const std::string& file : c.lab.files) {
    const fs::path base = c.base == "starter" ? c.lab.dir / "starter" / file : kSource / "reference" / c.lab.id / file;
    std::string text = read_file(base);
    if (file == c.file)
      for (const auto& [old, replacement] : c.patch) {
        if (text.find(old) == std::string::npos) throw Error(c.name + ": a patch does not apply to " + base.string());
        for (std::size_t at = 0; (at = text.find(old, at)) != std::string::npos; at += replacement.size())
          text.replace(at, old.size(), replacement);
      }
    write_file_atomic(dir / file, text);
  }
  return dir;
}

std::string only_args(const Case& c) {
  std::string a;
  for (const auto& o : c.only) a += " --only '" + o + "'";
  return a;
}

// Items whose names contain one of `only` (as the grader selects them).
std::set<std::string> selected(const Case& c, const std::set<std::string>& names) {
  if (c.only.empty()) return names;
  std::set<std::string> s;
  for (const auto& n : names)
    for (const auto& o : c.only)
      if (n.find(o) != std::string::npos) s.insert(n);
  return s;
}

void grade_and_check(const Case& c) {
  if (c.root_only && geteuid() != 0) GTEST_SKIP() << c.name << " runs only where the grader has a sandbox user (as root)";
  std::string why_not;
  if (c.needs_memory_limit && memory_limit_mode(why_not).empty())
    GTEST_SKIP() << c.name << " needs a memory limit, and the grader has none here: " << why_not;
  test::TempDir d;
  const fs::path sub = write_submission(c, d / "submission");
  const Ran r = dtlab("grade " + c.lab.id + " --submission " + sub.string() + " --results results.json --quiet --timeout " + std::to_string(c.timeout * kSlowdown) +
                          only_args(c),
                      d.path());
  ASSERT_EQ(r.code, 0) << "the grader itself failed on " << c.name << ":\n" << r.out;
  const json res = json::parse(read_file(d / "results.json"));
  expect_gradescope_format(res);
  const std::set<std::string> lost = lost_items(res);
  const std::set<std::string> must = selected(c, c.loses);
  for (const auto& item : must) EXPECT_TRUE(lost.count(item)) << c.name << " (" << c.what << ") should lose '" << item << "'";
  // What a bug must not cost: any item it loses clearly. A few percent of a speed item is the
  // noise of timing on a shared 2-core machine (seen in CI: 0.17 of 8 points), not the bug.
  for (const auto& item : lost_items(res, 0.9))
    EXPECT_TRUE(must.count(item) || c.may_lose.count(item))
        << c.name << " (" << c.what << ") lost '" << item << "', which it should not:\n" << r.out;
  expect_nothing_left_running();
}

std::string case_name(const testing::TestParamInfo<Case>& info) {
  std::string n = info.param.lab.id + "_" + info.param.name;
  std::replace(n.begin(), n.end(), '-', '_');
  return n;
}

class BuggySubmission : public testing::TestWithParam<Case> {};
TEST_P(BuggySubmission, LosesExactlyTheItemsItShould) { grade_and_check(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Labs, BuggySubmission, testing::ValuesIn(every_labs_cases("bugs.toml", "bug")), case_name);

class HostileSubmission : public testing::TestWithParam<Case> {};
TEST_P(HostileSubmission, NeitherBreaksNorFoolsTheGrader) { grade_and_check(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Labs, HostileSubmission, testing::ValuesIn(every_labs_cases("hostile.toml", "hostile")),
                         case_name);

TEST(Grader, ForgedResultsFilesAreOverwritten) {
  // fake-results-file writes full marks into results.json from inside the test run; what the
  // grader leaves at --results is its own verdict.
  test::TempDir d;
  Case c = load_cases(lab("lab01"), "hostile.toml", "hostile")[5];
  ASSERT_EQ(c.name, "fake-results-file");
  const fs::path sub = write_submission(c, d / "submission");
  ASSERT_EQ(dtlab("grade lab01 --submission " + sub.string() + " --results results.json -q --only broadcast", d.path()).code, 0);
  EXPECT_EQ(json::parse(read_file(d / "results.json")).at("score").get<double>(), 0.0);
}

class SelfCheck : public testing::TestWithParam<Lab> {};
TEST_P(SelfCheck, ReferenceGetsFullMarksAndStarterZero) {
  test::TempDir d;
  const Ran r = dtlab("grade " + GetParam().id + " --self-check -q", d.path());
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("self-check passed"), std::string::npos) << r.out;
  expect_nothing_left_running();
}
INSTANTIATE_TEST_SUITE_P(Labs, SelfCheck, testing::ValuesIn(labs()),
                         [](const testing::TestParamInfo<Lab>& info) { return info.param.id; });

TEST(Rubric, EveryLabsRubricIsValidAndWorth100) {
  for (const auto& l : labs()) {
    const Rubric r = load_rubric(l.dir / "rubric.toml");
    EXPECT_DOUBLE_EQ(r.total_points(), 100.0) << l.id;
    EXPECT_TRUE(fs::exists(l.dir / "starter" / l.editable)) << l.id;
    EXPECT_TRUE(fs::exists(l.dir / "README.md")) << l.id << " has no handout";
  }
}

// Two gradings at once (two terminals, two batch jobs) run as different sandbox users, so neither
// kills the other's processes when it cleans up.
TEST(Grader, TwoGradingsAtOnceDoNotDisturbEachOther) {
  if (geteuid() != 0) GTEST_SKIP() << "sandbox users exist only when the grader runs as root";
  test::TempDir d;
  const std::string grade = std::string(DTLAB_BIN) + " grade lab01 --reference -q --only 'allreduce ring' --results ";  // 6 + 3 (hidden) points
  const std::string cmd = "cd " + d.path().string() + " && (" + grade + "a.json > a.txt 2>&1 & " + grade +
                          "b.json > b.txt 2>&1; wait)";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  for (const char* f : {"a.json", "b.json"})
    EXPECT_EQ(json::parse(read_file(d / f)).at("score").get<double>(), 9.0) << f << ":\n" << read_file(d / f);
}

TEST(Grader, SameSubmissionGradedThreeTimesGetsTheSameScores) {
  // The reference's source submitted as a student's: compiled and checked like one. Three
  // gradings (a minute each, most of it the speed items) show determinism as well as five did;
  // noise over many gradings is tools/grade_noise.py's job.
  test::TempDir d;
  fs::create_directories(d / "sub");
  fs::copy_file(kSource / "reference/lab01/collectives.cpp", d / "sub" / "collectives.cpp");
  json first;
  for (int k = 0; k < 3; ++k) {
    const Ran r = dtlab("grade lab01 --submission sub --results r.json -q", d.path());
    ASSERT_EQ(r.code, 0) << r.out;
    const json results = json::parse(read_file(d / "r.json"));  // named: a range-for over a temporary's
    json scores;                                                  // member would dangle
    for (const auto& t : results.at("tests")) scores[t.at("name").get<std::string>()] = t.at("score");
    if (k == 0) {
      first = scores;
      for (const auto& [name, s] : first.items()) EXPECT_GT(s.get<double>(), 0.0) << name;
      continue;
    }
    ASSERT_EQ(scores.size(), first.size());
    // Tests and model items are deterministic: the same score every time. Speed items measure the
    // machine: they must still count (a result judged wrong or past the floor scores 0); how many
    // points they lose to noise is measured by tools/grade_noise.py (docs/results/grader.md).
    for (const auto& [name, s] : scores.items()) {
      if (name.find("speed") != std::string::npos) {
        EXPECT_GT(s.get<double>(), 0.0) << "'" << name << "' in grading " << k + 1;
      } else {
        EXPECT_EQ(s, first.at(name)) << "'" << name << "' in grading " << k + 1 << " differs from the first";
      }
    }
  }
}

TEST(Grader, BatchGradesAClassWhateverItSubmitted) {
  test::TempDir d;
  const fs::path cls = d / "class";
  fs::create_directories(cls);
  // alice: a folder with the file one level down; bob: a zip; carol: a tar.gz; dave: garbage;
  // erin: a folder without the file.
  fs::create_directories(cls / "alice" / "lab01");
  fs::copy_file(kSource / "reference/lab01/collectives.cpp", cls / "alice" / "lab01" / "collectives.cpp");
  fs::create_directories(d / "bob");
  fs::copy_file(kLab01 / "starter/collectives.cpp", d / "bob" / "collectives.cpp");
  ASSERT_EQ(std::system(("cd " + (d / "bob").string() + " && python3 -c \"import zipfile; z=zipfile.ZipFile('" +
                         (cls / "bob.zip").string() + "', 'w'); z.write('collectives.cpp'); z.close()\"").c_str()),
            0);
  ASSERT_EQ(std::system(("tar czf " + (cls / "carol.tar.gz").string() + " -C " + (d / "bob").string() + " collectives.cpp").c_str()), 0);
  std::ofstream(cls / "dave.zip") << "this is not a zip file";
  fs::create_directories(cls / "erin");
  std::ofstream(cls / "erin" / "notes.txt") << "forgot the code";

  const Ran r = dtlab("grade lab01 --batch class --only 'allreduce ring' --jobs 2", d.path());
  ASSERT_EQ(r.code, 0) << r.out;
  const std::string csv = read_file(d / "class-grades" / "grades.csv");
  EXPECT_NE(csv.find("\"alice\",9,9,"), std::string::npos) << csv;   // 6 + 3 points: full
  EXPECT_NE(csv.find("\"bob.zip\",0,9,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("\"carol.tar.gz\",0,9,"), std::string::npos) << csv;
  // Item columns are matched by name: alice's "allreduce ring" column holds its 6 points, and an
  // item --only skipped (broadcast) is an empty field, not another item's score.
  auto fields = [](const std::string& line) {
    std::vector<std::string> f;
    std::stringstream in(line);
    for (std::string x; std::getline(in, x, ',');) f.push_back(x);
    return f;
  };
  std::stringstream lines(csv);
  std::string header, row;
  std::getline(lines, header);
  while (std::getline(lines, row) && row.rfind("\"alice\"", 0) != 0) {}
  const auto h = fields(header), a = fields(row);
  const auto col = [&](const std::string& name) { return std::find(h.begin(), h.end(), name) - h.begin(); };
  ASSERT_LT(std::size_t(col("\"allreduce ring\"")), a.size()) << csv;
  EXPECT_EQ(a[col("\"allreduce ring\"")], "6") << csv;
  EXPECT_EQ(a[col("\"allreduce ring (hidden)\"")], "3") << csv;
  EXPECT_EQ(a[col("\"broadcast\"")], "") << csv;
  for (const char* who : {"alice", "bob.zip", "carol.tar.gz", "dave.zip", "erin"}) {
    const json res = json::parse(read_file(d / "class-grades" / who / "results.json"));
    expect_gradescope_format(res);
  }
  const json dave = json::parse(read_file(d / "class-grades" / "dave.zip" / "results.json"));
  EXPECT_NE(dave.at("output").get<std::string>().find("cannot read the archive"), std::string::npos) << dave.dump(2);
  const json erin = json::parse(read_file(d / "class-grades" / "erin" / "results.json"));
  EXPECT_NE(erin.at("output").get<std::string>().find("has no collectives.cpp"), std::string::npos) << erin.dump(2);
  expect_nothing_left_running();
}

TEST(Grader, RefusesDangerousArchivesWithoutTouchingTheDisk) {
  test::TempDir d;
  // A tar whose collectives.cpp is a symbolic link to a file of the grader's machine.
  fs::create_directories(d / "evil");
  fs::create_symlink("/etc/passwd", d / "evil" / "collectives.cpp");
  ASSERT_EQ(std::system(("tar cf " + (d / "evil.tar").string() + " -C " + (d / "evil").string() + " collectives.cpp").c_str()), 0);
  const Ran r = dtlab("grade lab01 --submission evil.tar --results r.json -q --only broadcast", d.path());
  EXPECT_EQ(r.code, 0) << r.out;
  const json res = json::parse(read_file(d / "r.json"));
  EXPECT_EQ(res.at("score").get<double>(), 0.0);
  EXPECT_NE(res.at("output").get<std::string>().find("has no collectives.cpp"), std::string::npos) << res.dump(2);
  // The same link as a folder submission is refused too.
  const Ran f = dtlab("grade lab01 --submission evil --results f.json -q --only broadcast", d.path());
  EXPECT_NE(json::parse(read_file(d / "f.json")).at("output").get<std::string>().find("symbolic link"), std::string::npos);
}

// ---- packaging: Gradescope and the student edition ----

int shell(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

TEST(Gradescope, ZipBuildsAndGradesInASimulatedAutograderTree) {
  test::TempDir d;
  ASSERT_EQ(dtlab("gradescope lab01 -o lab01.zip", d.path()).code, 0);
  // Gradescope's layout: the zip in /autograder/source, the submission in /autograder/submission.
  const fs::path root = d / "autograder";
  fs::create_directories(root / "source");
  ASSERT_EQ(shell("cd " + (root / "source").string() +
                  " && python3 -c \"import zipfile, os\nz = zipfile.ZipFile('../../lab01.zip')\n"
                  "for i in z.infolist():\n    z.extract(i)\n    os.chmod(i.filename, (i.external_attr >> 16) & 0o777 or 0o644)\""),
            0);
  ASSERT_TRUE(fs::exists(root / "source" / "setup.sh"));
  ASSERT_TRUE(fs::exists(root / "source" / "run_autograder"));
  ASSERT_EQ(shell("bash " + (root / "source" / "setup.sh").string() + " > " + (d / "setup.log").string() + " 2>&1"), 0)
      << read_file(d / "setup.log");
  Case bug = load_cases(lab("lab01"), "bugs.toml", "bug")[2];
  ASSERT_EQ(bug.name, "chunk-twice");
  write_submission(bug, root / "submission");
  ASSERT_EQ(shell("DTLAB_AUTOGRADER_ROOT=" + root.string() + " bash " + (root / "source" / "run_autograder").string() +
                  " > " + (d / "run.log").string() + " 2>&1"),
            0)
      << read_file(d / "run.log");
  const json res = json::parse(read_file(root / "results" / "results.json"));
  expect_gradescope_format(res);
  for (const auto& item : bug.loses) EXPECT_TRUE(lost_items(res).count(item)) << item;
  EXPECT_TRUE(fs::exists(root / "results" / "report.html"));
  expect_nothing_left_running();
}

TEST(Release, StudentEditionBuildsFailsOnTheStarterAndGrades) {
  test::TempDir d;
  const fs::path s = d / "student";
  ASSERT_EQ(dtlab("release --student " + s.string(), d.path()).code, 0);
  EXPECT_FALSE(fs::exists(s / "reference"));
  EXPECT_FALSE(fs::exists(s / "labs/01-collectives/tests/hidden"));
  EXPECT_FALSE(fs::exists(s / "tests/grader"));
  EXPECT_TRUE(fs::exists(s / "labs/01-collectives/starter/collectives.cpp"));
  EXPECT_TRUE(fs::exists(s / "prebuilt/lib/liblab01_reference.a"));
  // Build what a student uses: the program and the lab's tests, against their starter.
  const std::string log = (d / "build.log").string();
  ASSERT_EQ(shell("cd " + s.string() + " && cmake --preset release > " + log + " 2>&1 && cmake --build --preset release "
                  "--target dtlab_cli lab01_public_tests >> " + log + " 2>&1"),
            0)
      << read_file(log);
  const std::string bin = (s / "build/bin/dtlab").string();
  EXPECT_NE(shell("cd " + (s / "build").string() + " && ctest -R lab01_public > /dev/null 2>&1"), 0)
      << "the lab's tests must fail on the starter";
  // Grading works inside it: the starter earns nothing; the reference's code, submitted, all the
  // visible points (speed and cost items measured against the prebuilt reference).
  fs::create_directories(d / "good");
  fs::copy_file(kSource / "reference/lab01/collectives.cpp", d / "good" / "collectives.cpp");
  ASSERT_EQ(shell("cd " + d.path().string() + " && " + bin + " grade lab01 -q --results starter.json > /dev/null 2>&1"), 0);
  ASSERT_EQ(shell("cd " + d.path().string() + " && " + bin + " grade lab01 -q --submission good --results good.json > /dev/null 2>&1"), 0);
  const json starter = json::parse(read_file(d / "starter.json")), good = json::parse(read_file(d / "good.json"));
  expect_gradescope_format(starter);
  expect_gradescope_format(good);
  EXPECT_EQ(starter.at("score").get<double>(), 0.0);
  double visible = 0;
  for (const auto& t : good.at("tests")) visible += t.at("max_score").get<double>();
  EXPECT_DOUBLE_EQ(good.at("score").get<double>(), visible) << good.dump(2);
  EXPECT_NE(good.at("output").get<std::string>().find("hidden tests, graded by the instructor"), std::string::npos);
  EXPECT_NE(shell("cd " + d.path().string() + " && " + bin + " grade lab01 --reference > /dev/null 2>&1"), 0);
}

// ---- the rubric format ----

TEST(Rubric, Lab01IsValidAndWorth100) {
  const Rubric r = load_rubric(kLab01 / "rubric.toml");
  EXPECT_EQ(r.lab, "lab01");
  EXPECT_DOUBLE_EQ(r.total_points(), 100.0);
  EXPECT_EQ(r.editable, std::vector<std::string>{"collectives.cpp"});
}

TEST(Rubric, MistakesNameTheItemAndTheField) {
  test::TempDir d;
  auto error_for = [&](const std::string& text) {
    std::ofstream(d / "r.toml") << text;
    try {
      load_rubric(d / "r.toml");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  const std::string head = "lab = \"x\"\napi_header = \"x.hpp\"\neditable = [\"x.cpp\"]\n";
  EXPECT_NE(error_for(head + "[[item]]\nname = \"a\"\nkind = \"quiz\"\npoints = 1\n").find("item 'a': kind 'quiz'"),
            std::string::npos);
  EXPECT_NE(error_for(head + "[[item]]\nname = \"a\"\nkind = \"test\"\n").find("'points' is required"), std::string::npos);
  EXPECT_NE(error_for(head + "[[item]]\nname = \"a\"\nkind = \"speed\"\nalgo = \"ring\"\npoints = 1\n").find("'bytes' is required"),
            std::string::npos);
  EXPECT_NE(error_for(head + "[[item]]\nname = \"a\"\nkind = \"test\"\nfilter = \"*\"\npoints = 1\nvisibility = \"secret\"\n")
                .find("visibility 'secret'"),
            std::string::npos);
  EXPECT_NE(error_for("lab = \"x\"\n").find("'api_header' is required"), std::string::npos);
  EXPECT_NE(error_for("lab = = 1").find("not valid TOML"), std::string::npos);
}

TEST(Rubric, SpeedCurveIsTheDocumentedOne) {
  const Curve c{1.2, 3.0};
  EXPECT_EQ(c.score(0.5), 1.0);
  EXPECT_EQ(c.score(1.2), 1.0);
  EXPECT_NEAR(c.score(2.1), 0.5, 1e-12);
  EXPECT_EQ(c.score(3.0), 0.0);
  EXPECT_EQ(c.score(100), 0.0);
}

}  // namespace
}  // namespace dtlab::grader
