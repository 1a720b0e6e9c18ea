// The tally of one proposal and the rule that turns it into a result. Pure.
//
// Voting power is stake: the balance of stake:<k> when voting opened (the proposal's entry),
// whatever k stakes, unstakes or is slashed afterwards (book.h keeps that snapshot). The rule
// is the Cosmos SDK's, with the rates the proposal carries (its body, set from the parameters
// in force when it was made):
//   no quorum  when the votes cast (yes + no + abstain + veto) are under quorum of all staked
//              power (also when nothing is staked);
//   vetoed     when veto is above the veto rate of the votes cast;
//   passed     when yes is above the threshold of the non-abstaining votes (yes + no + veto);
//   rejected   otherwise (also when everyone abstained).
// Only a veto burns the deposit; every other result refunds it.
#pragma once

#include <cstdint>

#include "plume/ledger/amount.h"
#include "plume/ledger/gov.h"

namespace plume::gov {

struct Tally {
  ledger::MicroPlume yes, no, abstain, veto;
  ledger::MicroPlume staked;  // all staked power at the snapshot
  uint32_t voters = 0;        // distinct stakers whose last vote counts
  bool operator==(const Tally&) const = default;
};

struct TallyRules {
  uint32_t quorum_ppm = 0;
  uint32_t threshold_ppm = 0;
  uint32_t veto_ppm = 0;
};

ledger::OutcomeResult Decide(const Tally& t, const TallyRules& rules);
// Votes cast / staked power, in ppm (0 when nothing is staked).
uint32_t TurnoutPpm(const Tally& t);

// The outcome body a tally makes, and the tally an outcome body records.
ledger::OutcomeBody OutcomeOf(std::string proposal, const Tally& t, ledger::OutcomeResult r);
Tally TallyIn(const ledger::OutcomeBody& b);

}  // namespace plume::gov
