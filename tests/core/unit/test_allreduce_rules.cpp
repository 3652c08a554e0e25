// The allreduce decision table: parsing, choosing, rewriting one rank count, and clear errors.
#include <gtest/gtest.h>

#include "dtlab/allreduce_rules.hpp"
#include "dtlab/error.hpp"

namespace dtlab {
namespace {

const char* kText = R"(# a comment
2 2048 recursive_doubling
2 4096 ring   # the eager limit
2 -    rabenseifner
4 131072 recursive_doubling
4 - ring
)";

TEST(AllreduceRules, ChoosesTheFirstRuleThatCoversTheSize) {
  const auto r = AllreduceRules::parse(kText, "t");
  EXPECT_EQ(r.choose(2, 4), "recursive_doubling");
  EXPECT_EQ(r.choose(2, 2048), "recursive_doubling");  // up_to is inclusive
  EXPECT_EQ(r.choose(2, 2049), "ring");
  EXPECT_EQ(r.choose(2, 4096), "ring");
  EXPECT_EQ(r.choose(2, 4097), "rabenseifner");
  EXPECT_EQ(r.choose(2, std::uint64_t(1) << 40), "rabenseifner");
  EXPECT_EQ(r.choose(4, 131072), "recursive_doubling");
  EXPECT_EQ(r.choose(4, 131073), "ring");
  EXPECT_EQ(r.choose(3, 4), std::nullopt) << "no rule for 3 ranks: the caller's own switch points";
}

TEST(AllreduceRules, OrderInTheFileDoesNotMatter) {
  const auto r = AllreduceRules::parse("2 - ring\n2 64 recursive_doubling\n", "t");
  EXPECT_EQ(r.choose(2, 64), "recursive_doubling");
  EXPECT_EQ(r.choose(2, 65), "ring");
}

TEST(AllreduceRules, SetReplacesOneRankCountAndRoundTripsThroughText) {
  auto r = AllreduceRules::parse(kText, "t");
  r.set(2, {{0, 8, "ring"}, {0, AllreduceRules::kNoLimit, "recursive_doubling"}});
  const auto again = AllreduceRules::parse(r.to_text("header\nsecond line"), "t");
  EXPECT_EQ(again.choose(2, 8), "ring");
  EXPECT_EQ(again.choose(2, 9), "recursive_doubling");
  EXPECT_EQ(again.choose(4, 1), "recursive_doubling") << "the other rank count is kept";
  EXPECT_EQ(again.rules().size(), 4u);
}

TEST(AllreduceRules, BadLinesAreNamed) {
  for (const char* bad : {"2 4096\n", "2 4096 ring extra\n", "x 4096 ring\n", "0 4096 ring\n",
                          "2 4k ring\n", "2 -5 ring\n"}) {
    try {
      AllreduceRules::parse(std::string("# ok\n") + bad, "rules.txt");
      ADD_FAILURE() << "accepted: " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("rules.txt:2:"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace dtlab
