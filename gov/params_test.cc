// The governed parameters' table: complete, in enum order, defaults inside their bounds, and
// the bounds refuse the unsafe values the issue names (an audit rate of 0 among them).
#include "plume/gov/params.h"

#include <gtest/gtest.h>

namespace plume::gov {
namespace {

TEST(Params, TableIsInEnumOrderWithDefaultsInBounds) {
  const auto table = ParamTable();
  ASSERT_EQ(table.size(), kParamCount);
  for (size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(table[i].param), i) << table[i].name;
    EXPECT_LE(table[i].min, table[i].max) << table[i].name;
    EXPECT_EQ(BoundsProblem(table[i].param, table[i].default_value), "") << table[i].name;
    EXPECT_EQ(ParamByName(table[i].name), table[i].param);
  }
  EXPECT_EQ(ParamByName("no_such_param"), std::nullopt);
}

TEST(Params, DefaultsAreTheCosmosVotingRules) {
  const Params p;
  EXPECT_EQ(p.Get(Param::kQuorumPpm), 334'000);
  EXPECT_EQ(p.Get(Param::kThresholdPpm), 500'000);
  EXPECT_EQ(p.Get(Param::kVetoPpm), 334'000);
  EXPECT_EQ(p.Get(Param::kFeeBps), 500);
}

TEST(Params, BoundsRefuseUnsafeValues) {
  EXPECT_NE(BoundsProblem(Param::kAuditRateMinPpm, 0), "");
  EXPECT_NE(BoundsProblem(Param::kThresholdPpm, 499'999), "");
  EXPECT_NE(BoundsProblem(Param::kFeeBps, 10'000), "");
  EXPECT_NE(BoundsProblem(Param::kFeeBps, -1), "");
  EXPECT_NE(BoundsProblem(Param::kDepositMin, 0), "");
  EXPECT_NE(BoundsProblem(Param::kQuorumPpm, 1'000'001), "");
  EXPECT_NE(BoundsProblem(Param::kChallengeWindowMs, 0), "");
  EXPECT_EQ(BoundsProblem(Param::kFeeBps, 2000), "");  // inclusive bounds
  EXPECT_EQ(BoundsProblem(Param::kFeeBps, 0), "");
  const std::string why = BoundsProblem(Param::kAuditRateMinPpm, 0);
  EXPECT_NE(why.find("audit_rate_min_ppm"), std::string::npos) << why;
  EXPECT_NE(why.find("10000"), std::string::npos) << why;
}

}  // namespace
}  // namespace plume::gov
