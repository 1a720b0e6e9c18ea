// The table of governed parameters (see params.h). The defaults are the scheduler's flag
// defaults and, for the voting rules, the Cosmos SDK's governance defaults (quorum 33.4 % of
// staked power, threshold 50 % of non-abstaining votes, veto 33.4 %).
#include "plume/gov/params.h"

namespace plume::gov {
namespace {

constexpr int64_t kSecondMs = 1000;
constexpr int64_t kDayMs = 86'400'000;
constexpr int64_t kPlume = 1'000'000;

// In the order of the enum (checked by the unit test).
constexpr ParamSpec kTable[kParamCount] = {
    {Param::kFeeBps, "fee_bps", 0, 2000, 500, "bps",
     "a fee above 20 % would take most of a provider's pay"},
    {Param::kAuditRateMinPpm, "audit_rate_min_ppm", 10'000, 1'000'000, 50'000, "ppm",
     "under 1 % a cheater is rarely caught and the slash that deters it grows past any stake"},
    {Param::kMinStakePerDevice, "min_stake_per_device_micro_plume", 0, 1'000'000 * kPlume, 0,
     "micro-PLUME", "above a million PLUME no provider could be placed"},
    {Param::kSlashBps, "slash_bps", 100, 10'000, 1000, "bps",
     "under 1 % a proven fault would cost almost nothing"},
    {Param::kFinderFeeBps, "finder_fee_bps", 0, 5000, 1000, "bps",
     "above 50 % finding faults would pay more than the team's compensation"},
    {Param::kChallengeWindowMs, "challenge_window_ms", kSecondMs, 30 * kDayMs, 60'000, "ms",
     "without a window no fault could be proven before the pay; past 30 days pay never comes"},
    {Param::kQuorumPpm, "quorum_ppm", 100'000, 1'000'000, 334'000, "ppm",
     "under 10 % a few stakers could change the network alone"},
    {Param::kThresholdPpm, "threshold_ppm", 500'000, 1'000'000, 500'000, "ppm",
     "under a half a minority could adopt a change"},
    {Param::kVetoPpm, "veto_ppm", 100'000, 1'000'000, 334'000, "ppm",
     "under 10 % any small group could veto and burn every deposit"},
    {Param::kVotingPeriodMs, "voting_period_ms", kSecondMs, 90 * kDayMs, 2 * kDayMs, "ms",
     "past 90 days no decision would ever come"},
    {Param::kTimelockMs, "timelock_ms", kSecondMs, 90 * kDayMs, 2 * kDayMs, "ms",
     "stakers who disagree need time to leave; a proposal also needs it >= the unbonding period"},
    {Param::kDepositMin, "deposit_min_micro_plume", kPlume, 1'000'000 * kPlume, 100 * kPlume,
     "micro-PLUME", "without a deposit proposals cost nothing to spam"},
    {Param::kRoyaltyCapBps, "royalty_cap_bps", 0, 5000, 1000, "bps",
     "above 50 % data owners would take most of a provider's pay"},
};

}  // namespace

std::span<const ParamSpec> ParamTable() { return kTable; }

const ParamSpec& SpecOf(Param p) { return kTable[static_cast<size_t>(p)]; }

std::optional<Param> ParamByName(std::string_view name) {
  for (const ParamSpec& s : kTable) {
    if (s.name == name) return s.param;
  }
  return std::nullopt;
}

std::string BoundsProblem(Param p, int64_t value) {
  const ParamSpec& s = SpecOf(p);
  if (value >= s.min && value <= s.max) return {};
  return std::string(s.name) + " = " + std::to_string(value) + " is outside its bounds [" +
         std::to_string(s.min) + ", " + std::to_string(s.max) + "] " + std::string(s.unit) +
         ": " + std::string(s.why_bounded);
}

Params::Params() {
  for (const ParamSpec& s : kTable) values_[static_cast<size_t>(s.param)] = s.default_value;
}

}  // namespace plume::gov
