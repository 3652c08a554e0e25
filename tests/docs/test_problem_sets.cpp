// The interview-prep problem sets: complete, every number recomputed by dtlab's formulas, every
// coding problem graded by a real rubric item, and English and Chinese kept in step.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <toml++/toml.h>

#include "dtlab/io.hpp"
#include "problem_sets.hpp"

namespace dtlab::test {
namespace {

namespace fs = std::filesystem;
const fs::path kRoot = DTLAB_SOURCE_DIR;
const fs::path kSets = kRoot / "docs" / "problem-sets";

std::vector<fs::path> files(const std::string& lang) {
  std::vector<fs::path> f;
  if (fs::exists(kSets / lang))
    for (const auto& e : fs::directory_iterator(kSets / lang))
      if (e.path().extension() == ".md") f.push_back(e.path());
  std::sort(f.begin(), f.end());
  return f;
}

std::vector<Question> load(const std::string& lang) {
  std::vector<Question> all;
  for (const auto& f : files(lang)) {
    auto q = parse_problem_set(read_file(f), fs::relative(f, kRoot).string(), lang);
    all.insert(all.end(), q.begin(), q.end());
  }
  return all;
}

const std::vector<std::string> kLangs = {"en", "zh-CN"};

// ---- the checker itself must catch what it is there to catch ----

TEST(ProblemSetChecker, CatchesWrongNumbersHiddenNumbersAndMissingParts) {
  const std::string good = R"(### [t-1] Ring
*Difficulty:* ★★ · *Practise in:* [Lab 01](x.md)

Q?

**Answer.** About 0.175 s.
<!-- check: ring_allreduce_time p=8 bytes=1e9 alpha=5e-6 beta=1e-10 => 0.175 shown "0.175 s" -->
)";
  auto q = parse_problem_set(good, "good.md", "en");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].difficulty, 2);
  EXPECT_EQ(q[0].lab_link, "x.md");
  ASSERT_EQ(q[0].checks.size(), 1u);
  EXPECT_TRUE(problems_of(q[0]).empty()) << problems_of(q[0])[0];

  auto wrong = good;
  wrong.replace(wrong.find("=> 0.175"), 8, "=> 0.350");
  EXPECT_EQ(problems_of(parse_problem_set(wrong, "w.md", "en")[0]).size(), 1u);  // 0.35 != 0.175

  auto hidden = good;
  hidden.replace(hidden.find("About 0.175 s"), 13, "About a fifth of a second");
  EXPECT_EQ(problems_of(parse_problem_set(hidden, "h.md", "en")[0]).size(), 1u);  // shown text gone

  auto bare = good;
  bare.replace(bare.find("★★"), 6, "");
  bare.replace(bare.find("**Answer.**"), 11, "");
  EXPECT_EQ(problems_of(parse_problem_set(bare, "b.md", "en")[0]).size(), 2u);

  auto unknown = good;
  unknown.replace(unknown.find("ring_allreduce_time"), 19, "ring_allreduce_tyme");
  EXPECT_FALSE(problems_of(parse_problem_set(unknown, "u.md", "en")[0]).empty());
}

// ---- the problem sets ----

TEST(ProblemSets, AtLeast120QuestionsInEachLanguageWithUniqueIds) {
  for (const auto& lang : kLangs) {
    const auto qs = load(lang);
    EXPECT_GE(qs.size(), 120u) << lang;
    std::set<std::string> ids;
    for (const auto& q : qs) EXPECT_TRUE(ids.insert(q.id).second) << lang << ": id " << q.id << " twice (" << q.file << ")";
  }
}

TEST(ProblemSets, EveryQuestionIsCompleteAndEveryNumberIsRecomputed) {
  for (const auto& lang : kLangs) {
    std::size_t checks = 0;
    for (const auto& q : load(lang)) {
      for (const auto& p : problems_of(q)) ADD_FAILURE() << p;
      checks += q.checks.size();
    }
    EXPECT_GE(checks, 40u) << lang << ": the quantitative questions need their answers checked";
  }
}

TEST(ProblemSets, LabLinksPointToFilesThatExist) {
  for (const auto& lang : kLangs)
    for (const auto& q : load(lang)) {
      std::string target = q.lab_link.substr(0, q.lab_link.find('#'));
      if (target.rfind("http", 0) == 0) continue;
      const fs::path p = (kRoot / q.file).parent_path() / target;
      EXPECT_TRUE(fs::exists(p)) << q.file << ":" << q.line << " [" << q.id << "] links to " << q.lab_link;
    }
}

TEST(ProblemSets, EnglishAndChineseAreInStep) {
  std::vector<std::string> en_files, zh_files;
  for (const auto& f : files("en")) en_files.push_back(f.filename());
  for (const auto& f : files("zh-CN")) zh_files.push_back(f.filename());
  EXPECT_EQ(en_files, zh_files) << "the same files in both languages";
  const auto en = load("en"), zh = load("zh-CN");
  ASSERT_EQ(en.size(), zh.size());
  for (std::size_t i = 0; i < en.size(); ++i) {
    SCOPED_TRACE(en[i].file + " [" + en[i].id + "]");
    ASSERT_EQ(en[i].id, zh[i].id) << "questions in the same order";
    EXPECT_EQ(en[i].difficulty, zh[i].difficulty);
    EXPECT_EQ(en[i].lab_link, zh[i].lab_link);
    EXPECT_EQ(en[i].checks, zh[i].checks) << "the same numbers, from the same formulas";
    EXPECT_EQ(en[i].wrong_answers, zh[i].wrong_answers);
    EXPECT_EQ(en[i].grades.size(), zh[i].grades.size());
  }
}

TEST(ProblemSets, CodingProblemsAreGradedByRealRubricItems) {
  std::map<std::string, std::vector<std::string>> items;  // lab -> item names
  for (const auto& e : fs::directory_iterator(kRoot / "labs")) {
    if (!fs::exists(e.path() / "rubric.toml")) continue;
    const auto t = toml::parse_file((e.path() / "rubric.toml").string());
    auto& names = items[std::string(t["lab"].value_or(""))];
    if (const auto* arr = t["item"].as_array())
      for (const auto& it : *arr) names.push_back(std::string((*it.as_table())["name"].value_or("")));
  }
  std::size_t graded = 0;
  for (const auto& q : load("en"))
    for (const auto& g : q.grades) {
      ++graded;
      ASSERT_TRUE(items.count(g.lab)) << q.id << ": no lab " << g.lab;
      const auto& names = items[g.lab];
      EXPECT_TRUE(std::any_of(names.begin(), names.end(),
                              [&](const std::string& n) { return n.find(g.only) != std::string::npos; }))
          << q.id << ": --only '" << g.only << "' selects no item of " << g.lab;
    }
  EXPECT_GE(graded, 6u) << "coding problems checked by the grader";
}

TEST(ProblemSets, CommonWrongAnswersAreExplained) {
  for (const auto& lang : kLangs) {
    int n = 0;
    for (const auto& q : load(lang)) n += q.wrong_answers;
    EXPECT_GE(n, 25) << lang;
  }
}

}  // namespace
}  // namespace dtlab::test
