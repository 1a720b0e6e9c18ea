// The slashing policy (slash.h): the slash deters at the audit rate (S >= pay / p whenever the
// stake allows), never exceeds what is slashable, takes at least the operator's share, and its
// legs come in the stated order and sum to it exactly. Each property is checked by one function
// (PlanProblem), and that function is shown to catch a plan that breaks it.
#include "plume/verify/slash.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>

namespace plume::verify {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

// Empty when `plan` is what slash.h promises for `in`, else the first broken promise.
std::string PlanProblem(const SlashInputs& in, const SlashPlan& plan) {
  const int64_t slashable = std::max<int64_t>(in.slashable_micro_plume, 0);
  const int64_t pay = std::max<int64_t>(in.pay_micro_plume, 0);
  if (plan.total_micro_plume < 0 || plan.total_micro_plume > slashable) return "above slashable";
  // Deterrence: S x p >= P x 1e6 (exact integers), unless S took everything slashable.
  const __int128 caught = static_cast<__int128>(plan.total_micro_plume) * in.audit_rate_ppm;
  if (plan.total_micro_plume < slashable && caught < static_cast<__int128>(pay) * 1'000'000) {
    return "below pay / p";
  }
  const int64_t share =
      static_cast<int64_t>(static_cast<__int128>(slashable) * std::min(in.slash_bps, 10'000u) / 10'000);
  if (plan.total_micro_plume < share) return "below the operator's share";
  __int128 sum = 0;
  int last = -1;
  static constexpr SlashLegKind kOrder[] = {SlashLegKind::kClawback, SlashLegKind::kCompensation,
                                            SlashLegKind::kFinder, SlashLegKind::kTreasury};
  for (const SlashPlanLeg& leg : plan.legs) {
    if (leg.amount_micro_plume <= 0) return "empty leg";
    sum += leg.amount_micro_plume;
    const int at = static_cast<int>(std::find(std::begin(kOrder), std::end(kOrder), leg.kind) -
                                    std::begin(kOrder));
    if (at <= last) return "legs out of order";
    last = at;
    const bool to_team = leg.kind == SlashLegKind::kClawback || leg.kind == SlashLegKind::kCompensation;
    if (to_team && leg.account != in.team_account) return "team leg to another account";
    if (leg.kind == SlashLegKind::kFinder && leg.account != in.finder_account) return "finder leg";
  }
  if (sum != plan.total_micro_plume) return "legs do not sum to the total";
  // Clawback first, in full when the slash covers it.
  const int64_t claw = std::min(std::max<int64_t>(in.clawback_micro_plume, 0), plan.total_micro_plume);
  const int64_t got = !plan.legs.empty() && plan.legs[0].kind == SlashLegKind::kClawback
                          ? plan.legs[0].amount_micro_plume : 0;
  if (got != claw) return "clawback not taken first";
  return "";
}

SlashInputs Inputs(int64_t pay, uint32_t p_ppm, int64_t slashable) {
  SlashInputs in;
  in.pay_micro_plume = pay;
  in.audit_rate_ppm = p_ppm;
  in.slashable_micro_plume = slashable;
  in.slash_bps = 1000;
  in.finder_fee_bps = 1000;
  in.rerun_cost_micro_plume = 3 * pay;
  in.team_account = "team:aa";
  in.finder_account = "provider:bb";
  return in;
}

TEST(Slash, TheDeterrentIsPayOverTheAuditRateRoundedUp) {
  // pay 1,000 at 5%: 20,000; the operator's 10% of 1,000,000 is 100,000 and wins.
  SlashPlan plan = PlanSlash(Inputs(1000, 50'000, 1'000'000));
  EXPECT_EQ(plan.deterrent_micro_plume, 20'000);
  EXPECT_EQ(plan.total_micro_plume, 100'000);
  // With a small stake share the deterrent decides: 1,000 / 3% = 33,333.3 -> 33,334.
  plan = PlanSlash(Inputs(1000, 30'000, 100'000));
  EXPECT_EQ(plan.deterrent_micro_plume, 33'334);
  EXPECT_EQ(plan.total_micro_plume, 33'334);
  EXPECT_GE(plan.total_micro_plume * 30'000LL, 1000LL * 1'000'000);
  // Capped at what is slashable (stake + unbonding).
  plan = PlanSlash(Inputs(1000, 10'000, 50'000));
  EXPECT_EQ(plan.deterrent_micro_plume, 100'000);
  EXPECT_EQ(plan.total_micro_plume, 50'000);
  // Never audited (p = 0): everything slashable; nothing staked: nothing.
  EXPECT_EQ(PlanSlash(Inputs(1, 0, 777)).total_micro_plume, 777);
  plan = PlanSlash(Inputs(1000, 50'000, 0));
  EXPECT_EQ(plan.total_micro_plume, 0);
  EXPECT_TRUE(plan.legs.empty());
}

TEST(Slash, LegsComeInOrderAndSumExactly) {
  SlashInputs in = Inputs(1000, 50'000, 1'000'000);  // S = 100,000
  in.clawback_micro_plume = 1000;
  const SlashPlan plan = PlanSlash(in);
  ASSERT_EQ(plan.legs.size(), 4u);
  EXPECT_EQ(plan.legs[0], (SlashPlanLeg{SlashLegKind::kClawback, "team:aa", 1000}));
  EXPECT_EQ(plan.legs[1], (SlashPlanLeg{SlashLegKind::kCompensation, "team:aa", 3000}));
  EXPECT_EQ(plan.legs[2], (SlashPlanLeg{SlashLegKind::kFinder, "provider:bb", 10'000}));
  EXPECT_EQ(plan.legs[3], (SlashPlanLeg{SlashLegKind::kTreasury, "treasury", 86'000}));
  EXPECT_EQ(PlanProblem(in, plan), "");
  // A short stake fills the legs in order and stops: 2,500 = clawback 1,000 + compensation 1,500.
  in.slashable_micro_plume = 2500;
  in.slash_bps = 10'000;
  const SlashPlan short_plan = PlanSlash(in);
  ASSERT_EQ(short_plan.legs.size(), 2u);
  EXPECT_EQ(short_plan.legs[1], (SlashPlanLeg{SlashLegKind::kCompensation, "team:aa", 1500}));
  EXPECT_EQ(PlanProblem(in, short_plan), "");
  // No finder: its share stays with the treasury.
  in = Inputs(1000, 50'000, 1'000'000);
  in.finder_account.clear();
  const SlashPlan no_finder = PlanSlash(in);
  ASSERT_EQ(no_finder.legs.size(), 2u);
  EXPECT_EQ(no_finder.legs[1].amount_micro_plume, 97'000);
}

TEST(Slash, EveryPlanKeepsThePromisesOverRandomInputs) {
  std::mt19937_64 rng(7);
  auto draw = [&](int64_t hi) { return std::uniform_int_distribution<int64_t>(0, hi)(rng); };
  for (int i = 0; i < 20'000; ++i) {
    SlashInputs in = Inputs(draw(i % 10 == 0 ? kMax : 10'000'000),
                            static_cast<uint32_t>(draw(1'000'000)),
                            draw(i % 7 == 0 ? kMax : 100'000'000));
    in.slash_bps = static_cast<uint32_t>(draw(12'000));
    in.finder_fee_bps = static_cast<uint32_t>(draw(10'000));
    in.clawback_micro_plume = draw(i % 3 == 0 ? 0 : kMax / 2);
    in.rerun_cost_micro_plume = draw(kMax / 2);
    if (i % 5 == 0) in.finder_account.clear();
    const SlashPlan plan = PlanSlash(in);
    ASSERT_EQ(PlanProblem(in, plan), "") << "pay " << in.pay_micro_plume << " p "
                                         << in.audit_rate_ppm << " slashable "
                                         << in.slashable_micro_plume;
  }
}

TEST(Slash, TheChecksCatchABrokenPolicy) {
  SlashInputs in = Inputs(1000, 30'000, 100'000);
  in.clawback_micro_plume = 500;
  const SlashPlan good = PlanSlash(in);
  ASSERT_EQ(PlanProblem(in, good), "");
  // The operator's share alone (10% of 100,000 = 10,000) is below pay / p = 33,334.
  SlashPlan share_only = good;
  share_only.total_micro_plume = 10'000;
  share_only.legs = {{SlashLegKind::kClawback, "team:aa", 500},
                     {SlashLegKind::kTreasury, "treasury", 9'500}};
  EXPECT_EQ(PlanProblem(in, share_only), "below pay / p");
  SlashPlan over = good;
  over.total_micro_plume = 100'001;
  EXPECT_EQ(PlanProblem(in, over), "above slashable");
  SlashPlan lossy = good;
  lossy.legs.back().amount_micro_plume -= 1;
  EXPECT_EQ(PlanProblem(in, lossy), "legs do not sum to the total");
  SlashPlan swapped = good;
  std::swap(swapped.legs[0], swapped.legs[1]);
  EXPECT_EQ(PlanProblem(in, swapped), "legs out of order");
  SlashPlan no_claw = good;
  no_claw.legs.erase(no_claw.legs.begin());
  no_claw.legs.back().amount_micro_plume += 500;
  EXPECT_EQ(PlanProblem(in, no_claw), "clawback not taken first");
}

}  // namespace
}  // namespace plume::verify
