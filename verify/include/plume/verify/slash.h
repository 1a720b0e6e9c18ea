// Slashing policy: how much of a provider's stake one proven fault costs, and where it goes.
// Pure: amounts in, a plan out; the scheduler turns the plan into one ledger slash request
// ("slash:<faulty task>") and the ledger moves it.
//
// Amount. Cheating must not pay at the current audit rate: a provider that cheats on a task of
// pay P is caught with probability p (its audit rate) and otherwise paid P, so it expects
// (1 - p) P - p S, which is below 0 (and below an honest run's P minus its compute) when
// S >= P / p. The slash is therefore
//     S = min(slashable, max(floor(slash_bps x slashable / 10,000), ceil(P x 1e6 / p_ppm)))
// with slashable = free stake + unbonding stake (unbonding stake is still slashable, as in
// Cosmos). The first term is the operator's fixed share (a fault also costs reputation and a
// re-run); the second the deterrent. p_ppm = 0 (never audited) takes everything slashable.
//
// Legs, filled in this order until S runs out (a leg that would be 0 is left out):
//   kClawback     what the faulty run was already paid, back to the team;
//   kCompensation the team's cost of the re-run and the verification runs, to the team;
//   kFinder       finder_fee_bps of S, to whoever found the fault (the referee's provider
//                 account, else the auditor's); none when there is no finder account;
//   kTreasury     the rest.
// The legs always sum to S exactly. The kind values are the ledger's LegKind values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace plume::verify {

inline constexpr const char* kSlashPolicy = "slash/1";

enum class SlashLegKind : uint8_t { kTreasury = 0, kCompensation = 1, kClawback = 2, kFinder = 3 };
const char* Name(SlashLegKind k);

struct SlashInputs {
  int64_t pay_micro_plume = 0;          // P: what the faulty run earns when not caught
  uint32_t audit_rate_ppm = 0;          // p: the probability that the faulty run was checked
  int64_t slashable_micro_plume = 0;    // free stake + unbonding stake of the provider
  uint32_t slash_bps = 0;               // the operator's share of slashable per fault
  uint32_t finder_fee_bps = 0;          // of S, to the finder
  int64_t clawback_micro_plume = 0;     // what the faulty run was already paid (0 if not)
  int64_t rerun_cost_micro_plume = 0;   // the team's cost of re-running and verifying
  std::string team_account;             // "team:<hex>": clawback and compensation go here
  std::string finder_account;           // "provider:<hex>"; empty: no finder leg
  std::string treasury_account = "treasury";
};

struct SlashPlanLeg {
  SlashLegKind kind = SlashLegKind::kTreasury;
  std::string account;
  int64_t amount_micro_plume = 0;

  bool operator==(const SlashPlanLeg&) const = default;
};

struct SlashPlan {
  int64_t total_micro_plume = 0;  // S; 0: nothing to slash (no stake)
  int64_t deterrent_micro_plume = 0;  // ceil(P x 1e6 / p), saturated: what S had to reach
  std::vector<SlashPlanLeg> legs;  // in the order above; sum == total_micro_plume

  bool operator==(const SlashPlan&) const = default;
};

// The slash for one proven fault. Negative inputs count as 0; bps above 10,000 as 10,000.
SlashPlan PlanSlash(const SlashInputs& in);

}  // namespace plume::verify
