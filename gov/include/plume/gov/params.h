// The network's governed parameters: their names, units, defaults and the bounds the code
// enforces, so that no vote can set an unsafe value (an audit rate of 0, a threshold under a
// half, a fee of 100 %). Pure: no I/O. The scheduler's flags give the values a network starts
// with; adopted proposals change them (book.h replays them from the ledger).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace plume::gov {

enum class Param : uint8_t {
  kFeeBps,              // network fee on each settle, basis points of the pay
  kAuditRateMinPpm,     // floor of the replay-audit probability (verify/audit.h p_min_ppm)
  kMinStakePerDevice,   // micro-PLUME of free stake per device for placement
  kSlashBps,            // share of the slashable stake a proven fault costs at least
  kFinderFeeBps,        // share of a slash paid to whoever found the fault
  kChallengeWindowMs,   // an unaudited result is paid this long after it finished
  kQuorumPpm,           // of the staked power at the snapshot that must vote
  kThresholdPpm,        // of the non-abstaining votes that yes must exceed
  kVetoPpm,             // of all votes that veto must exceed to veto (and burn the deposit)
  kVotingPeriodMs,      // from a proposal to the end of its voting
  kTimelockMs,          // from the end of voting to the execution of an adopted proposal
  kDepositMin,          // micro-PLUME a proposal must lock as its deposit
  kRoyaltyCapBps,       // the highest royalty a dataset may ask, basis points of the pay
};
inline constexpr size_t kParamCount = 13;

struct ParamSpec {
  Param param;
  std::string_view name;  // as written in a proposal file and shown by the CLI
  int64_t min;            // inclusive bounds a proposal must respect
  int64_t max;
  int64_t default_value;
  std::string_view unit;
  std::string_view why_bounded;  // one line: what an out-of-bounds value would break
};

std::span<const ParamSpec> ParamTable();
const ParamSpec& SpecOf(Param p);
std::optional<Param> ParamByName(std::string_view name);
// Empty when `value` is within the bounds of `p`, else a sentence naming the bounds and why.
std::string BoundsProblem(Param p, int64_t value);

// One value per parameter.
class Params {
 public:
  Params();  // the defaults
  int64_t Get(Param p) const { return values_[static_cast<size_t>(p)]; }
  void Set(Param p, int64_t value) { values_[static_cast<size_t>(p)] = value; }
  bool operator==(const Params&) const = default;

 private:
  std::array<int64_t, kParamCount> values_{};
};

}  // namespace plume::gov
