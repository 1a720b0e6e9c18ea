// Governed parameters reaching the core (ParamsChanged): a job keeps the fee it was accepted
// under, a job submitted afterwards takes the new one, and a raised minimum stake stops placing
// nodes that no longer cover it while a lowered one places them again.
#include <gtest/gtest.h>

#include "core_test_util.h"

namespace plume::scheduler {
namespace {
using namespace testing;

ParamsChanged Params(const Config& c) {
  return ParamsChanged{c.fee_bps, c.audit.p_min_ppm, c.min_stake_per_device_micro_plume,
                       c.slash_bps, c.finder_fee_bps, c.challenge_window_ms};
}

TEST(CoreParams, ARunningJobKeepsItsFeeANewJobTakesTheNewOne) {
  Harness h;
  h.Do(JobSubmitted{"old", "alice", InferSpec(4, 1)});
  EXPECT_EQ(h.JobAt("old").spec.fee_bps, kFeeBpsDefault);
  Config c = h.core.config();
  c.fee_bps = 300;
  c.challenge_window_ms = 5'000;
  h.Do(Params(c));
  EXPECT_EQ(h.core.config().fee_bps, 300u);
  EXPECT_EQ(h.core.config().challenge_window_ms, 5'000);
  h.Do(JobSubmitted{"new", "alice", InferSpec(4, 1)});
  EXPECT_EQ(h.JobAt("new").spec.fee_bps, 300u);
  EXPECT_EQ(h.JobAt("old").spec.fee_bps, kFeeBpsDefault);
}

TEST(CoreParams, MinimumStakeChangesAdmission) {
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  h.Do(StakeChanged{"a", 500, 0});
  Config c = h.core.config();
  c.min_stake_per_device_micro_plume = 1'000;
  h.Do(Params(c));
  EXPECT_TRUE(Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)})).empty());
  c.min_stake_per_device_micro_plume = 500;
  h.Do(Params(c));
  EXPECT_EQ(Only<SendTaskAssign>(h.Advance(200)).size(), 1u);
}

}  // namespace
}  // namespace plume::scheduler
