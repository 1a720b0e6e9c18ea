// Governance entries: who may sign them and how they move money (see gov.h and state.h). The
// ledger keeps each proposal's deposit and lifecycle honest (one outcome, one execution, only
// after the timelock of a passed proposal, grants exactly as proposed); whether a tally's
// result follows from the votes is recounted by gov/ (`plume ledger verify` does both).
#include <cassert>

#include "plume/ledger/limits.h"
#include "plume/ledger/state.h"
#include "state_rules.h"

namespace plume::ledger {
namespace rules {
namespace {

bool IsPersonalSpendable(std::string_view a) { return IsTeam(a) || IsProvider(a); }

// The body of a proposal decodes and its fields fit its kind: one encoding per meaning.
Code ProposalShape(const Entry& e) {
  auto body = DecodeProposal(e.body);
  if (!body) return Code::kInvalid;
  if (!ProposalIdProblem(e.id).empty() || e.to != DepositAccount(e.id)) return Code::kInvalid;
  if (!IsPersonalSpendable(e.from) || e.amount.value() <= 0 || e.at_ms == 0) return Code::kInvalid;
  if (body->voting_end_ms <= e.at_ms) return Code::kInvalid;
  for (uint32_t ppm : {body->quorum_ppm, body->threshold_ppm, body->veto_ppm}) {
    if (ppm > 1'000'000) return Code::kInvalid;
  }
  if (body->kind == ProposalKind::kParamChange) {
    const bool ok = !body->param.empty() && body->grant_to.empty() &&
                    body->grant_amount.value() == 0 && body->purpose.empty();
    return ok ? Code::kOk : Code::kInvalid;
  }
  const bool ok = body->param.empty() && body->value == 0 &&
                  IsPersonalSpendable(body->grant_to) && body->grant_amount.value() > 0;
  return ok ? Code::kOk : Code::kInvalid;
}

Code OutcomeShape(const Entry& e) {
  auto body = DecodeOutcome(e.body);
  if (!body) return Code::kInvalid;
  if (e.id != OutcomeEntryId(body->proposal) || e.from != DepositAccount(body->proposal)) {
    return Code::kInvalid;
  }
  if (e.amount.value() <= 0 || e.at_ms == 0) return Code::kInvalid;
  // A vetoed deposit is burned, any other outcome refunds it.
  const bool vetoed = body->result == OutcomeResult::kVetoed;
  return (vetoed ? e.to == kBurned : IsPersonalSpendable(e.to)) ? Code::kOk : Code::kInvalid;
}

Code ExecutionShape(const Entry& e) {
  auto body = DecodeExecution(e.body);
  if (!body || e.id != ExecutionEntryId(body->proposal) || e.at_ms == 0) return Code::kInvalid;
  if (e.from.empty()) return e.to.empty() && e.amount.value() == 0 ? Code::kOk : Code::kInvalid;
  const bool grant = e.from == kTreasury && IsPersonalSpendable(e.to) && e.amount.value() > 0;
  return grant ? Code::kOk : Code::kInvalid;
}

}  // namespace

Code GovShape(const Entry& e) {
  if (!e.job.empty() || e.receipt || !e.legs.empty() || !e.memo.empty()) return Code::kInvalid;
  switch (e.type) {
    case EntryType::kGovProposal:
      return ProposalShape(e);
    case EntryType::kGovVote: {
      if (!IsStake(e.from) || !e.to.empty() || e.amount.value() != 0 || e.at_ms == 0) {
        return Code::kInvalid;
      }
      return DecodeVote(e.body) ? Code::kOk : Code::kInvalid;
    }
    case EntryType::kGovOutcome:
      return OutcomeShape(e);
    case EntryType::kGovExecution:
      return ExecutionShape(e);
    default:
      return Code::kInvalid;
  }
}

Code AuthorizeGov(const Entry& e, const Keys& keys, Signers& signers) {
  switch (e.type) {
    case EntryType::kGovProposal:
      // The proposer pays the deposit; the ledger key vouches for the times and tally rules.
      return signers.Has(*AccountKey(e.from)) && signers.Has(keys.ledger) ? Code::kOk
                                                                            : Code::kBadSignature;
    case EntryType::kGovVote:
      // The staker's own key: nobody votes with another's stake; the ledger key vouches at_ms.
      return signers.Has(*AccountKey(e.from)) && signers.Has(keys.ledger) ? Code::kOk
                                                                            : Code::kBadSignature;
    case EntryType::kGovOutcome:
    case EntryType::kGovExecution:
      return signers.Has(keys.ledger) ? Code::kOk : Code::kBadSignature;
    default:
      return Code::kInvalid;
  }
}

}  // namespace rules

Code State::ApplyGov(const Entry& e) {
  switch (e.type) {
    case EntryType::kGovProposal:
      return ApplyProposal(e);
    case EntryType::kGovVote:
      return ApplyVote(e);
    case EntryType::kGovOutcome:
      return ApplyOutcome(e);
    case EntryType::kGovExecution:
      return ApplyExecution(e);
    default:
      return Code::kInvalid;
  }
}

Code State::ApplyProposal(const Entry& e) {
  if (proposals_.contains(e.id) || balances_.contains(e.to)) return Code::kInvalid;
  const auto decoded = DecodeProposal(e.body);  // GovShape decoded it; Apply stays total anyway
  if (!decoded) return Code::kInvalid;
  const ProposalBody& body = *decoded;
  balances_.emplace(e.to, MicroPlume(0));
  if (Code c = Move(e.from, e.to, e.amount); c != Code::kOk) {
    balances_.erase(e.to);  // all or nothing
    return c;
  }
  ProposalInfo p;
  p.proposer = e.from;
  p.deposit = e.amount;
  p.index = entry_count_;
  p.opened_at_ms = e.at_ms;
  p.voting_end_ms = body.voting_end_ms;
  p.timelock_ms = body.timelock_ms;
  p.kind = body.kind;
  p.grant_to = body.grant_to;
  p.grant_amount = body.grant_amount;
  proposals_.emplace(e.id, std::move(p));
  return Code::kOk;
}

Code State::ApplyVote(const Entry& e) {
  const auto decoded = DecodeVote(e.body);
  if (!decoded) return Code::kInvalid;
  const VoteBody& body = *decoded;
  auto it = proposals_.find(body.proposal);
  if (it == proposals_.end()) return Code::kUnknownProposal;
  const ProposalInfo& p = it->second;
  if (p.outcome || e.at_ms >= p.voting_end_ms || e.at_ms < p.opened_at_ms) {
    return Code::kVotingClosed;
  }
  // Only a staker votes (its power is its stake at the snapshot: gov/ counts it).
  return balances_.contains(e.from) ? Code::kOk : Code::kUnknownAccount;
}

Code State::ApplyOutcome(const Entry& e) {
  const auto decoded = DecodeOutcome(e.body);
  if (!decoded) return Code::kInvalid;
  const OutcomeBody& body = *decoded;
  auto it = proposals_.find(body.proposal);
  if (it == proposals_.end()) return Code::kUnknownProposal;
  ProposalInfo& p = it->second;
  if (p.outcome) return Code::kVotingClosed;
  if (e.at_ms < p.voting_end_ms) return Code::kVotingOpen;
  const bool vetoed = body.result == OutcomeResult::kVetoed;
  if (e.amount != p.deposit || (!vetoed && e.to != p.proposer)) return Code::kInvalid;
  const bool created = balances_.try_emplace(e.to, MicroPlume(0)).second;  // `burned`, once
  if (Code c = Move(e.from, e.to, e.amount); c != Code::kOk) {
    if (created) balances_.erase(e.to);
    return c;
  }
  p.outcome = body.result;
  return Code::kOk;
}

Code State::ApplyExecution(const Entry& e) {
  const auto decoded = DecodeExecution(e.body);
  if (!decoded) return Code::kInvalid;
  const ExecutionBody& body = *decoded;
  auto it = proposals_.find(body.proposal);
  if (it == proposals_.end()) return Code::kUnknownProposal;
  ProposalInfo& p = it->second;
  if (p.outcome != OutcomeResult::kPassed || p.executed) return Code::kNotAdopted;
  // Saturating: a timelock past the end of time never runs out.
  const uint64_t due = p.voting_end_ms + p.timelock_ms < p.voting_end_ms
                           ? UINT64_MAX
                           : p.voting_end_ms + p.timelock_ms;
  if (e.at_ms < due) return Code::kTimelocked;
  if (p.kind == ProposalKind::kGrant) {
    // Exactly the grant that was voted on.
    if (e.to != p.grant_to || e.amount != p.grant_amount) return Code::kInvalid;
    if (Code c = Move(e.from, e.to, e.amount); c != Code::kOk) return c;
  } else if (!e.from.empty()) {
    return Code::kInvalid;
  }
  p.executed = true;
  return Code::kOk;
}

std::optional<ProposalInfo> State::Proposal(std::string_view id) const {
  auto it = proposals_.find(std::string(id));
  if (it == proposals_.end()) return std::nullopt;
  return it->second;
}

Status State::CheckGovInvariants() const {
  __int128 vetoed = 0;
  for (const auto& [id, p] : proposals_) {
    auto deposit = balances_.find(DepositAccount(id));
    if (deposit == balances_.end()) return Fail("invariant broken: proposal " + id + " lost its deposit account");
    const MicroPlume expect = p.outcome ? MicroPlume(0) : p.deposit;
    if (deposit->second != expect) {
      return Fail("invariant broken: deposit of proposal " + id + " holds " +
                  std::to_string(deposit->second.value()) + ", not " +
                  std::to_string(expect.value()));
    }
    if (p.executed && p.outcome != OutcomeResult::kPassed) {
      return Fail("invariant broken: proposal " + id + " executed without passing");
    }
    if (p.outcome == OutcomeResult::kVetoed) vetoed += p.deposit.value();
  }
  auto burned = balances_.find(std::string(kBurned));
  const int64_t burned_balance = burned == balances_.end() ? 0 : burned->second.value();
  if (burned_balance != vetoed) {
    return Fail("invariant broken: burned holds " + std::to_string(burned_balance) +
                ", not the sum of vetoed deposits");
  }
  return {};
}

}  // namespace plume::ledger
