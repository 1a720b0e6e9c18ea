// The publish bound: the count and the balance each refuse at their edge and not one below it;
// 0 turns the count off; the reasons name the flag and the figures.
#include "plume/data/publish_limit.h"

#include <gtest/gtest.h>

namespace plume::data {
namespace {

TEST(PublishLimit, CountRefusesAtTheMaximumNotBelow) {
  const PublishLimits limits{3, 0};
  EXPECT_EQ(PublishRefusal(limits, {0, 0}), "");
  EXPECT_EQ(PublishRefusal(limits, {2, 0}), "");
  const std::string why = PublishRefusal(limits, {3, 0});
  EXPECT_NE(why.find("published 3 datasets"), std::string::npos) << why;
  EXPECT_NE(why.find("--data-publishes-per-key-max 3"), std::string::npos) << why;
  EXPECT_NE(PublishRefusal(limits, {1'000'000, 0}), "");
  // 0: no count limit.
  EXPECT_EQ(PublishRefusal({0, 0}, {1'000'000, 0}), "");
}

TEST(PublishLimit, BalanceRefusesBelowTheMinimumNotAtIt) {
  const PublishLimits limits{kDatasetsPerKeyMaxDefault, 1'000'000};
  EXPECT_EQ(PublishRefusal(limits, {0, 1'000'000}), "");
  const std::string why = PublishRefusal(limits, {0, 999'999});
  EXPECT_NE(why.find("at least 1000000 micro-PLUME"), std::string::npos) << why;
  EXPECT_NE(why.find("holds 999999"), std::string::npos) << why;
  EXPECT_NE(PublishRefusal(limits, {0, -1}), "");
  // The default allows any balance, even an account never opened.
  EXPECT_EQ(PublishRefusal(PublishLimits{}, {0, 0}), "");
}

TEST(PublishLimit, DefaultCountIsTheDocumentedOne) {
  EXPECT_EQ(PublishRefusal(PublishLimits{}, {kDatasetsPerKeyMaxDefault - 1, 0}), "");
  EXPECT_NE(PublishRefusal(PublishLimits{}, {kDatasetsPerKeyMaxDefault, 0}), "");
}

}  // namespace
}  // namespace plume::data
