// The slashing policy; see slash.h.
#include "plume/verify/slash.h"

#include <algorithm>
#include <cassert>
#include <limits>

namespace plume::verify {
namespace {

constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr uint32_t kBpsPerUnit = 10'000;
constexpr uint32_t kPpmPerUnit = 1'000'000;

int64_t NonNegative(int64_t v) { return std::max<int64_t>(v, 0); }

int64_t Saturate(__int128 v) { return v > kInt64Max ? kInt64Max : static_cast<int64_t>(v); }

// amount x bps / 10,000, rounded down; bps clamped to a whole.
int64_t Share(int64_t amount, uint32_t bps) {
  return static_cast<int64_t>(static_cast<__int128>(amount) * std::min(bps, kBpsPerUnit) /
                              kBpsPerUnit);
}

}  // namespace

const char* Name(SlashLegKind k) {
  switch (k) {
    case SlashLegKind::kTreasury: return "treasury";
    case SlashLegKind::kCompensation: return "compensation";
    case SlashLegKind::kClawback: return "clawback";
    case SlashLegKind::kFinder: return "finder";
  }
  return "?";
}

SlashPlan PlanSlash(const SlashInputs& in) {
  const int64_t slashable = NonNegative(in.slashable_micro_plume);
  const int64_t pay = NonNegative(in.pay_micro_plume);
  SlashPlan plan;
  // ceil(P x 1e6 / p); with p = 0 the fault was never going to be checked: no amount deters.
  const uint32_t p = std::min(in.audit_rate_ppm, kPpmPerUnit);
  plan.deterrent_micro_plume =
      p == 0 ? (pay > 0 ? kInt64Max : 0)
             : Saturate((static_cast<__int128>(pay) * kPpmPerUnit + p - 1) / p);
  const int64_t share = Share(slashable, in.slash_bps);
  plan.total_micro_plume = std::min(slashable, std::max(share, plan.deterrent_micro_plume));
  int64_t rest = plan.total_micro_plume;
  auto leg = [&](SlashLegKind kind, const std::string& account, int64_t want) {
    const int64_t amount = std::min(rest, NonNegative(want));
    if (amount <= 0) return;
    plan.legs.push_back(SlashPlanLeg{kind, account, amount});
    rest -= amount;
  };
  leg(SlashLegKind::kClawback, in.team_account, in.clawback_micro_plume);
  leg(SlashLegKind::kCompensation, in.team_account, in.rerun_cost_micro_plume);
  if (!in.finder_account.empty()) {
    leg(SlashLegKind::kFinder, in.finder_account, Share(plan.total_micro_plume, in.finder_fee_bps));
  }
  leg(SlashLegKind::kTreasury, in.treasury_account, rest);
  assert(rest == 0);
  return plan;
}

}  // namespace plume::verify
