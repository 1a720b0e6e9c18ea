// The tally rule (see tally.h). Every comparison is exact integer arithmetic on 128 bits:
// a x 1e6 > b x ppm, so no rounding can tip a close vote.
#include "plume/gov/tally.h"

namespace plume::gov {
namespace {
using Wide = __int128;
constexpr Wide kPpm = 1'000'000;
Wide W(ledger::MicroPlume m) { return m.value(); }
}  // namespace

ledger::OutcomeResult Decide(const Tally& t, const TallyRules& rules) {
  const Wide cast = W(t.yes) + W(t.no) + W(t.abstain) + W(t.veto);
  if (t.staked.value() <= 0 || cast * kPpm < W(t.staked) * rules.quorum_ppm) {
    return ledger::OutcomeResult::kNoQuorum;
  }
  if (W(t.veto) * kPpm > cast * rules.veto_ppm) return ledger::OutcomeResult::kVetoed;
  const Wide deciding = W(t.yes) + W(t.no) + W(t.veto);
  if (deciding > 0 && W(t.yes) * kPpm > deciding * rules.threshold_ppm) {
    return ledger::OutcomeResult::kPassed;
  }
  return ledger::OutcomeResult::kRejected;
}

uint32_t TurnoutPpm(const Tally& t) {
  if (t.staked.value() <= 0) return 0;
  const Wide cast = W(t.yes) + W(t.no) + W(t.abstain) + W(t.veto);
  const Wide ppm = cast * kPpm / W(t.staked);
  return static_cast<uint32_t>(ppm > kPpm ? kPpm : ppm);
}

ledger::OutcomeBody OutcomeOf(std::string proposal, const Tally& t, ledger::OutcomeResult r) {
  ledger::OutcomeBody b;
  b.proposal = std::move(proposal);
  b.yes = t.yes;
  b.no = t.no;
  b.abstain = t.abstain;
  b.veto = t.veto;
  b.staked = t.staked;
  b.voters = t.voters;
  b.result = r;
  return b;
}

Tally TallyIn(const ledger::OutcomeBody& b) {
  return Tally{b.yes, b.no, b.abstain, b.veto, b.staked, b.voters};
}

}  // namespace plume::gov
