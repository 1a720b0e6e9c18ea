// A job on a published dataset: the core's royalty per task is the data component's rule (the
// one the ledger recomputes), the escrow holds it for every task on top of pay and fee, a job
// without a dataset owes none, and huge rates saturate instead of wrapping.
#include <gtest/gtest.h>

#include <limits>

#include "core_test_util.h"
#include "plume/data/royalty.h"
#include "plume/scheduler/work.h"
#include "store_json.h"

namespace plume::scheduler {
namespace {
using testing::TrainSpec;

TEST(RoyaltyEscrow, PerTaskRoyaltyIsTheDataComponentsRule) {
  JobSpec spec = TrainSpec(2, 3);
  EXPECT_EQ(RoyaltyTokensPerTask(spec), 0u);  // no dataset, no royalty
  EXPECT_EQ(RoyaltyPerTaskMicroPlume(spec), 0);
  const MicroPlume without = MaxJobCostMicroPlume(spec);
  spec.dataset = std::string(32, 'a');
  for (uint64_t rate : {uint64_t{0}, uint64_t{1}, uint64_t{999}, uint64_t{2500}, uint64_t{1'000'000'000}}) {
    spec.royalty_micro_plume_per_mtoken = rate;
    const uint64_t tokens = *data::TaskTokens(spec.train.local_steps, spec.train.batch,
                                              spec.train.seq_len, 1, 1);
    EXPECT_EQ(RoyaltyTokensPerTask(spec), tokens);
    EXPECT_EQ(RoyaltyPerTaskMicroPlume(spec), *data::RoyaltyFor(tokens, rate)) << rate;
    // Every one of workers x rounds tasks holds its royalty.
    EXPECT_EQ(MaxJobCostMicroPlume(spec) - without, 6 * *data::RoyaltyFor(tokens, rate)) << rate;
  }
  // A rate and step count whose royalty does not fit: saturated, never wrapped to a small hold.
  spec.royalty_micro_plume_per_mtoken = std::numeric_limits<uint64_t>::max();
  spec.train.local_steps = 4'000'000'000u;
  EXPECT_EQ(RoyaltyPerTaskMicroPlume(spec), std::numeric_limits<MicroPlume>::max());
  EXPECT_EQ(MaxJobCostMicroPlume(spec), std::numeric_limits<MicroPlume>::max());
}

TEST(RoyaltyEscrow, TheDatasetAndRateSurviveTheStore) {
  JobSpec spec = TrainSpec(1, 1);
  spec.dataset = std::string(32, 'b');
  spec.royalty_micro_plume_per_mtoken = 77;
  EXPECT_EQ(SpecFromJson(SpecToJson(spec)), spec);
}

}  // namespace
}  // namespace plume::scheduler
