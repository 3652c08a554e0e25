// The interview-prep problem sets: complete, every number recomputed by dtlab's formulas, every
// coding problem graded by a real rubric item, and English and Chinese kept in step.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <set>
#include <toml++/toml.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

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
  const std::string good = R"(### [t-1] Ring on 8 nodes
*Difficulty:* ★★ · *Practise in:* [Lab 01](x.md)

How long does an allreduce of 1 GB take at 10 GB/s and 5 µs per message?

**Answer.** About 0.175 s, twice that (0.35 s) in both directions, on Lab 01's ring, 2(p−1) steps,
fp16 or H100 or ZeRO-3 as names; 1e9 bytes; NVLink's 450 GB/s; see `nccl 2.18`.
<!-- check: ring_allreduce_time p=8 bytes=1e9 alpha=5e-6 beta=1e-10 => 0.175 shown "0.175 s" -->
<!-- check: 2 * ring_allreduce_time(p=8, bytes=1e9, alpha=5e-6, beta=1e-10) => 0.350 shown "0.35 s" -->
<!-- fact: h100_nvlink_per_direction "450 GB/s" NVIDIA H100 SXM datasheet -->
)";
  auto q = parse_problem_set(good, "good.md", "en");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_EQ(q[0].difficulty, 2);
  EXPECT_EQ(q[0].lab_link, "x.md");
  ASSERT_EQ(q[0].checks.size(), 2u);
  ASSERT_EQ(q[0].facts.size(), 1u);
  EXPECT_EQ(q[0].facts[0].source, "NVIDIA H100 SXM datasheet");
  EXPECT_TRUE(problems_of(q[0]).empty()) << problems_of(q[0])[0];

  auto with = [&](const std::string& from, const std::string& to) {
    auto text = good;
    text.replace(text.find(from), from.size(), to);
    return problems_of(parse_problem_set(text, "t.md", "en")[0]);
  };
  EXPECT_EQ(with("=> 0.175", "=> 0.350").size(), 1u);       // 0.35 != 0.175
  EXPECT_EQ(with("=> 0.350", "=> 0.175").size(), 1u);       // the expression too
  EXPECT_EQ(with("About 0.175 s", "About a fifth of a second").size(), 1u);  // shown text gone
  EXPECT_FALSE(with("ring_allreduce_time p=8", "ring_allreduce_tyme p=8").empty());
  EXPECT_FALSE(with("2 * ring", "2 * rung").empty());
  EXPECT_EQ(with(" NVIDIA H100 SXM datasheet", "").size(), 1u);  // a fact needs its source

  // Numbers nothing accounts for: each is named.
  auto loose = with("2(p−1) steps", "2(p−1) = 14 steps taking 1.4 ms or 36% or 1.45x");
  ASSERT_EQ(loose.size(), 1u);
  for (const char* n : {"14", "1.4", "36", "1.45"}) EXPECT_NE(loose[0].find(n), std::string::npos) << n;
  EXPECT_EQ(with("1e9 bytes", "1e9 bytes, 1,000 MB, 1e6 KB").size(), 0u);  // the question's 1 GB in other units
  EXPECT_EQ(with("1e9 bytes", "2e9 bytes").size(), 1u);
  EXPECT_EQ(with("1e9 bytes", "10 亿字节").size(), 0u);  // 亿 = 1e8
  EXPECT_EQ(with("1e9 bytes", "10 万字节").size(), 1u);
  EXPECT_EQ(with("NVLink's 450 GB/s", "NVLink's 900 GB/s").size(), 2u);  // not the fact, and the fact's text gone

  auto bare = good;
  bare.replace(bare.find("★★"), 6, "");
  bare.replace(bare.find("**Answer.**"), 11, "");
  EXPECT_EQ(problems_of(parse_problem_set(bare, "b.md", "en")[0]).size(), 2u);  // no ★, no answer
}

TEST(ProblemSetChecker, NumbersInNamesLabelsAndCodeAreNotNumbers) {
  const std::string text = R"(### [t-2] Names
*Difficulty:* ★ · *Practise in:* [Lab 01](x.md)

Q?

**Answer.** fp16, bf16, H100, 1F1B, ZeRO-3, coll-18, Lab 03, week 10, 第 10 周, 1996, `--port 29500`,
[link](../labs/01-x/README.md), 3 ranks.
)";
  const auto q = parse_problem_set(text, "n.md", "en");
  ASSERT_EQ(q.size(), 1u);
  EXPECT_TRUE(unchecked_numbers(q[0]).empty()) << fmt::format("{}", fmt::join(unchecked_numbers(q[0]), " "));
}

TEST(GlossaryChecker, FlagsAvoidedVariantsAndQuotes) {
  const auto terms = parse_glossary(R"(| English | 中文 | 不用 (avoid) |
| --- | --- | --- |
| micro-batch | 微批次 | 微批量、小批次 |
| bucket | 桶 | |
| step | 步 | step |
)");
  ASSERT_EQ(terms.size(), 3u);
  EXPECT_EQ(terms[0].avoid, (std::vector<std::string>{"微批量", "小批次"}));
  EXPECT_TRUE(terms[1].avoid.empty());
  EXPECT_TRUE(glossary_problems("把批次切成微批次。\n“好”\n`微批量` 在代码里不算。\nlr·(step+1)/warmup 是公式。\n", "ok.md", terms).empty());
  EXPECT_EQ(glossary_problems("每个 step 都要等。\n", "s.md", terms).size(), 1u);
  const auto p = glossary_problems("第一行\n切成微批量，\"好的\"和「对」\n", "bad.md", terms);
  ASSERT_EQ(p.size(), 4u);  // the variant, the ASCII quotes, two corner quotes
  EXPECT_NE(p[0].find("bad.md:2"), std::string::npos);
  EXPECT_NE(p[0].find("微批次"), std::string::npos);
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
    EXPECT_EQ(en[i].facts, zh[i].facts) << "the same facts, from the same sources";
    EXPECT_EQ(en[i].wrong_answers, zh[i].wrong_answers);
    EXPECT_EQ(en[i].grades.size(), zh[i].grades.size());
  }
}

TEST(ProblemSets, TitlesCarryTheirFileNumber) {
  for (const auto& lang : kLangs)
    for (const auto& f : files(lang)) {
      const std::string name = f.filename().string();
      if (name.size() < 3 || !std::isdigit(static_cast<unsigned char>(name[0]))) continue;
      const std::string text = read_file(f);
      EXPECT_EQ(text.rfind("# " + name.substr(0, 2) + " · ", 0), 0u)
          << lang << "/" << name << ": the page title starts '# " << name.substr(0, 2) << " · '";
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

TEST(ProblemSets, AFactStatesOneValueEverywhere) {
  std::map<std::string, std::pair<std::string, std::string>> seen;  // key -> (text, where)
  for (const auto& lang : kLangs)
    for (const auto& q : load(lang))
      for (const auto& f : q.facts) {
        const std::string where = q.file + " [" + q.id + "]";
        const auto [it, fresh] = seen.emplace(f.key, std::make_pair(f.text, where));
        EXPECT_TRUE(fresh || it->second.first == f.text)
            << "fact " << f.key << ": '" << f.text << "' in " << where << " but '" << it->second.first
            << "' in " << it->second.second;
      }
}

TEST(ProblemSets, ChinesePagesFollowTheGlossary) {
  const auto terms = parse_glossary(read_file(kSets / "glossary.md"));
  ASSERT_GE(terms.size(), 60u) << "docs/problem-sets/glossary.md: the table of terms";
  // The glossary must not forbid its own words: no variant inside any term it prescribes.
  for (const auto& t : terms)
    for (const auto& v : t.avoid)
      for (const auto& u : terms)
        EXPECT_EQ(u.chinese.find(v), std::string::npos) << "glossary: '" << v << "' (avoided for " << t.english
                                                        << ") is part of " << u.chinese << " (" << u.english << ")";
  for (const auto& f : files("zh-CN"))
    for (const auto& p : glossary_problems(read_file(f), fs::relative(f, kRoot).string(), terms)) ADD_FAILURE() << p;
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
