// Proposal validation (see proposal.h).
#include "plume/gov/proposal.h"

#include <algorithm>

namespace plume::gov {

ledger::ProposalBody WithTerms(ledger::ProposalBody draft, const Params& params,
                               uint64_t opened_at_ms) {
  draft.voting_end_ms = opened_at_ms + static_cast<uint64_t>(params.Get(Param::kVotingPeriodMs));
  draft.timelock_ms = static_cast<uint64_t>(params.Get(Param::kTimelockMs));
  draft.quorum_ppm = static_cast<uint32_t>(params.Get(Param::kQuorumPpm));
  draft.threshold_ppm = static_cast<uint32_t>(params.Get(Param::kThresholdPpm));
  draft.veto_ppm = static_cast<uint32_t>(params.Get(Param::kVetoPpm));
  return draft;
}

std::string StaticProblem(const ledger::ProposalBody& b) {
  if (b.kind == ledger::ProposalKind::kParamChange) {
    const auto param = ParamByName(b.param);
    if (!param) return "unknown parameter '" + b.param + "' (plume gov params lists them)";
    if (std::string p = BoundsProblem(*param, b.value); !p.empty()) return p;
  } else if (b.grant_amount.value() <= 0) {
    return "a grant needs an amount above 0";
  }
  const std::pair<Param, uint32_t> rates[] = {{Param::kQuorumPpm, b.quorum_ppm},
                                              {Param::kThresholdPpm, b.threshold_ppm},
                                              {Param::kVetoPpm, b.veto_ppm}};
  for (const auto& [param, value] : rates) {
    if (std::string p = BoundsProblem(param, value); !p.empty()) return "the proposal's " + p;
  }
  if (b.timelock_ms < static_cast<uint64_t>(SpecOf(Param::kTimelockMs).min)) {
    return "the proposal's timelock is under the bound";
  }
  return {};
}

std::string ProposalProblem(const ledger::Entry& e, const ProposalContext& ctx) {
  if (e.type != ledger::EntryType::kGovProposal) return "not a proposal entry";
  if (std::string p = ledger::ProposalIdProblem(e.id); !p.empty()) return p;
  auto body = ledger::DecodeProposal(e.body);
  if (!body) return body.error().message;
  if (std::string p = StaticProblem(*body); !p.empty()) return p;
  if (ctx.open_proposals >= kOpenProposalsMax) {
    return "there are " + std::to_string(ctx.open_proposals) +
           " open proposals already; wait for one to end";
  }
  const uint64_t skew = e.at_ms > ctx.now_ms ? e.at_ms - ctx.now_ms : ctx.now_ms - e.at_ms;
  if (skew > kProposalClockSkewMs) return "the proposal's time is too far from the scheduler's clock";
  // The terms are the parameters in force, never the proposer's choice.
  if (*body != WithTerms(*body, ctx.params, e.at_ms)) {
    return "the proposal's voting end, timelock or tally rates are not the ones in force "
           "(plume gov params shows them)";
  }
  if (static_cast<int64_t>(body->timelock_ms) < ctx.unbonding_ms) {
    return "the timelock (" + std::to_string(body->timelock_ms) +
           " ms) is shorter than the unbonding period (" + std::to_string(ctx.unbonding_ms) +
           " ms): stakers who disagree could not leave before the change";
  }
  if (body->kind == ledger::ProposalKind::kParamChange && body->param == "timelock_ms" &&
      body->value < ctx.unbonding_ms) {
    return "timelock_ms would be shorter than the unbonding period (" +
           std::to_string(ctx.unbonding_ms) + " ms)";
  }
  const int64_t deposit_min = ctx.params.Get(Param::kDepositMin);
  if (e.amount.value() < deposit_min) {
    return "the deposit " + std::to_string(e.amount.value()) + " is under the minimum " +
           std::to_string(deposit_min) + " micro-PLUME";
  }
  if (body->kind == ledger::ProposalKind::kGrant && body->grant_amount > ctx.treasury) {
    return "the grant " + std::to_string(body->grant_amount.value()) +
           " is more than the treasury holds (" + std::to_string(ctx.treasury.value()) + ")";
  }
  return {};
}

}  // namespace plume::gov
