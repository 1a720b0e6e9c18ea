// The core's spec checks and money sums at their edges (security review F19): a round timeout past
// the bound would overflow now + timeout; a job whose maximum cost saturates 64 bits is not a real
// amount; the sums of what a job paid saturate instead of overflowing (undefined behaviour).
#include "plume/scheduler/work.h"

#include <gtest/gtest.h>

#include <limits>

#include "core_test_util.h"
#include "plume/scheduler/limits.h"

namespace plume::scheduler {
namespace {

using testing::TrainSpec;
constexpr MicroPlume kMax = std::numeric_limits<MicroPlume>::max();

TEST(WorkEdges, RoundTimeoutIsBoundedSoDeadlinesFitInt64) {
  EXPECT_TRUE(ValidateSpec(TrainSpec(1, 1, kRoundTimeoutMsMax)));
  for (int64_t ms : {kRoundTimeoutMsMax + 1, std::numeric_limits<int64_t>::max() / 1000 * 1000,
                     std::numeric_limits<int64_t>::max()}) {
    auto st = ValidateSpec(TrainSpec(1, 1, ms));
    ASSERT_FALSE(st) << ms;
    EXPECT_NE(st.error().message.find("round_timeout_s"), std::string::npos);
  }
}

TEST(WorkEdges, AJobWhoseCostSaturatesIsRefusedEvenWithTheLargestBudget) {
  JobSpec s = TrainSpec(kWorkersMax, kRoundsMax);
  s.max_price_micro_plume_per_pflop = kMax;
  s.budget_micro_plume = kMax;
  ASSERT_EQ(MaxJobCostMicroPlume(s), kMax);
  auto st = ValidateSpec(s);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("64 bits"), std::string::npos) << st.error().message;
}

TEST(WorkEdges, MoneySumsSaturate) {
  EXPECT_EQ(AddMicroPlume(1, 2), 3);
  EXPECT_EQ(AddMicroPlume(kMax - 1, 5), kMax);
  EXPECT_EQ(AddMicroPlume(kMax, kMax), kMax);
  EXPECT_EQ(AddMicroPlume(std::numeric_limits<MicroPlume>::min(), -1),
            std::numeric_limits<MicroPlume>::min());
}

}  // namespace
}  // namespace plume::scheduler
