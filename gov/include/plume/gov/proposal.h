// What makes a proposal acceptable. Pure.
//
// Two levels: StaticProblem checks what the ledger alone can show (the new value within the
// bounds of params.h, the tally rates it carries within theirs), so a recount refuses a
// proposal that slipped past a scheduler; ProposalProblem adds what is checked when the
// proposal is made (the deposit, the times and rates set from the parameters then in force,
// the timelock at least the unbonding period, a grant the treasury holds, the open-proposal
// bound).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "plume/gov/params.h"
#include "plume/ledger/amount.h"
#include "plume/ledger/entry.h"
#include "plume/ledger/gov.h"

namespace plume::gov {

// Open proposals at a time: each open one costs a snapshot record per stake change (book.h).
inline constexpr size_t kOpenProposalsMax = 64;
// How far the proposer's clock (opened_at_ms, which it signs) may be from the scheduler's.
inline constexpr uint64_t kProposalClockSkewMs = 60'000;

struct ProposalContext {
  Params params;              // in force now
  int64_t unbonding_ms = 0;   // the scheduler's unbonding period
  uint64_t now_ms = 0;        // the scheduler's clock
  size_t open_proposals = 0;  // without an outcome
  ledger::MicroPlume treasury;
};

// The body's terms from the parameters in force: voting end, timelock and tally rates.
ledger::ProposalBody WithTerms(ledger::ProposalBody draft, const Params& params,
                               uint64_t opened_at_ms);

std::string StaticProblem(const ledger::ProposalBody& body);
// Empty when `proposal` (a gov_proposal entry; signatures are the ledger's business) may be
// opened in `ctx`, else why not, in words a proposer can act on.
std::string ProposalProblem(const ledger::Entry& proposal, const ProposalContext& ctx);

}  // namespace plume::gov
