// The tally rule at and around each of its edges (quorum reached exactly, veto exactly at the
// rate, yes exactly at the threshold), and with amounts near int64's end.
#include "plume/gov/tally.h"

#include <gtest/gtest.h>

#include <limits>

namespace plume::gov {
namespace {
using ledger::MicroPlume;
using ledger::OutcomeResult;

constexpr TallyRules kCosmos{334'000, 500'000, 334'000};

Tally Make(int64_t yes, int64_t no, int64_t abstain, int64_t veto, int64_t staked) {
  return Tally{MicroPlume(yes), MicroPlume(no), MicroPlume(abstain), MicroPlume(veto),
               MicroPlume(staked), 4};
}

TEST(Tally, QuorumIsOfAllStakedPowerInclusive) {
  EXPECT_EQ(Decide(Make(334, 0, 0, 0, 1000), kCosmos), OutcomeResult::kPassed);
  EXPECT_EQ(Decide(Make(333, 0, 0, 0, 1000), kCosmos), OutcomeResult::kNoQuorum);
  // Abstain counts toward the quorum.
  EXPECT_EQ(Decide(Make(100, 0, 234, 0, 1000), kCosmos), OutcomeResult::kPassed);
  EXPECT_EQ(Decide(Make(0, 0, 0, 0, 0), kCosmos), OutcomeResult::kNoQuorum);
}

TEST(Tally, VetoAboveItsShareOfAllVotesVetoes) {
  // 334 of 1000 votes is exactly 33.4 %: not above, so no veto.
  EXPECT_EQ(Decide(Make(666, 0, 0, 334, 1000), kCosmos), OutcomeResult::kPassed);
  EXPECT_EQ(Decide(Make(665, 0, 0, 335, 1000), kCosmos), OutcomeResult::kVetoed);
  // A veto beats a large yes.
  EXPECT_EQ(Decide(Make(600, 0, 0, 400, 1000), kCosmos), OutcomeResult::kVetoed);
}

TEST(Tally, ThresholdIsOfNonAbstainingVotesStrictlyAbove) {
  EXPECT_EQ(Decide(Make(500, 500, 0, 0, 1000), kCosmos), OutcomeResult::kRejected);
  EXPECT_EQ(Decide(Make(501, 499, 0, 0, 1000), kCosmos), OutcomeResult::kPassed);
  // Abstain is left out of the threshold's base.
  EXPECT_EQ(Decide(Make(300, 200, 500, 0, 1000), kCosmos), OutcomeResult::kPassed);
  // Everyone abstained: nothing to adopt.
  EXPECT_EQ(Decide(Make(0, 0, 1000, 0, 1000), kCosmos), OutcomeResult::kRejected);
}

TEST(Tally, NoOverflowNearInt64Max) {
  const int64_t big = std::numeric_limits<int64_t>::max() / 4;
  EXPECT_EQ(Decide(Make(big, big - 1, big, 0, 4 * big), kCosmos), OutcomeResult::kPassed);
  EXPECT_EQ(TurnoutPpm(Make(big, big, big, big, 4 * big)), 1'000'000u);
  EXPECT_EQ(TurnoutPpm(Make(1, 0, 0, 0, 0)), 0u);
}

TEST(Tally, OutcomeBodyRoundTrips) {
  const Tally t = Make(1, 2, 3, 4, 100);
  const auto body = OutcomeOf("p1", t, OutcomeResult::kRejected);
  EXPECT_EQ(TallyIn(body), t);
  EXPECT_EQ(ledger::DecodeOutcome(ledger::EncodeBody(body)).value(), body);
}

}  // namespace
}  // namespace plume::gov
