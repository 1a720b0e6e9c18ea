// Money arithmetic: checked operations answer "no" at the edges instead of wrapping, and
// payment math rounds down in integers.
#include "plume/ledger/amount.h"

#include <gtest/gtest.h>

namespace plume::ledger {
namespace {

TEST(Amount, CheckedAddAndSubRefuseOverflow) {
  EXPECT_EQ(CheckedAdd(MicroPlume(2), MicroPlume(3)), MicroPlume(5));
  EXPECT_FALSE(CheckedAdd(MicroPlume::Max(), MicroPlume(1)).has_value());
  EXPECT_EQ(CheckedAdd(MicroPlume::Max(), MicroPlume(0)), MicroPlume::Max());
  EXPECT_FALSE(CheckedSub(MicroPlume(INT64_MIN), MicroPlume(1)).has_value());
  EXPECT_EQ(CheckedSub(MicroPlume(5), MicroPlume(7)), MicroPlume(-2));
}

TEST(Amount, PayForFlopsRoundsDownAndRefusesOverflow) {
  // 1.5 PFLOP at 1000 micro-PLUME per PFLOP is 1500.
  EXPECT_EQ(PayForFlops(1000, 1'500'000'000'000'000ULL), MicroPlume(1500));
  // 0.9999... of a micro-PLUME rounds down to 0.
  EXPECT_EQ(PayForFlops(1, kFlopsPerPflop - 1), MicroPlume(0));
  // The product needs 128 bits but the result fits.
  EXPECT_FALSE(PayForFlops(UINT64_MAX, kFlopsPerPflop).has_value());
  EXPECT_EQ(PayForFlops(1'000'000, UINT64_MAX), MicroPlume(18'446'744'073));
  EXPECT_FALSE(PayForFlops(UINT64_MAX, UINT64_MAX).has_value());
}

TEST(Amount, FeeIsBasisPointsRoundedDown) {
  EXPECT_EQ(FeeFor(MicroPlume(10'000), 250), MicroPlume(250));
  EXPECT_EQ(FeeFor(MicroPlume(99), 100), MicroPlume(0));
  EXPECT_EQ(FeeFor(MicroPlume::Max(), 10'000), MicroPlume::Max());
}

TEST(Amount, CostWithFeeIsWhatASettleOfTheSameWorkTakesFromTheHold) {
  // 2 PFLOP at 1,000 micro-PLUME/PFLOP = 2,000 pay + 5 % fee = 100.
  EXPECT_EQ(CostWithFee(1000, 2 * kFlopsPerPflop, 500), MicroPlume(2100));
  EXPECT_FALSE(CostWithFee(6'000'000'000'000'000'000ULL, kFlopsPerPflop, 10'000).has_value());
}

}  // namespace
}  // namespace plume::ledger
