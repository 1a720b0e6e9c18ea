// Governance entries for the ledger property test (see property_gov.h). Most entries are ones
// that can succeed (votes on open proposals, outcomes the book says are due, executions after
// the timelock); the rest are early, late, unknown or badly signed, each with the code the
// ledger must answer.
#include "property_gov.h"

#include <vector>

#include "plume/gov/proposal.h"

namespace plume::ledger::test {

GovPlanned GovGenerator::Next(const std::string& id, const State& model, const gov::Book& book,
                              uint64_t now_ms) {
  const int dice = Uniform(0, 99);
  if (dice < 10) return Propose(id, now_ms);
  if (dice < 65) return Vote(id, model, now_ms);
  if (dice < 80) return Outcome(model, book, now_ms);
  return Execute(model, book, now_ms);
}

GovPlanned GovGenerator::Propose(const std::string& id, uint64_t now_ms) {
  gov::Params params;
  params.Set(gov::Param::kVotingPeriodMs, Uniform(2000, 15000));
  params.Set(gov::Param::kTimelockMs, Uniform(1000, 3000));
  ProposalBody b;
  if (Uniform(0, 2) == 0) {
    b.kind = ProposalKind::kGrant;
    b.grant_to = cast_.provider(Uniform(0, static_cast<int>(cast_.agents.size()) - 1));
    b.grant_amount = MicroPlume(Uniform(1, 3'000'000));
    b.purpose = "grant \xe2\x9c\x93";
  } else {
    b.param = "fee_bps";
    b.value = Uniform(0, 2000);
  }
  const int team = Uniform(0, static_cast<int>(cast_.teams.size()) - 1);
  // Sometimes a deposit larger than any balance.
  const MicroPlume deposit(Uniform(0, 19) == 0 ? INT64_MAX / 2 : Uniform(1, 2'000'000));
  const std::string pid = "prop-" + std::to_string(proposals_++) + "-" + id.substr(3);
  const Entry e = MakeProposal(pid, cast_.team(team), deposit, now_ms,
                               gov::WithTerms(b, params, now_ms));
  if (Uniform(0, 9) == 0) return {Signed(cast_.id, e, cast_.teams[team]), Code::kBadSignature};
  return {Signed(cast_.id, e, cast_.teams[team], cast_.ledger), Code::kOk};
}

std::string GovGenerator::Pick(const State& model, bool open) {
  std::vector<std::string> ids;
  for (const auto& [pid, p] : model.proposals()) {
    if (open ? !p.outcome : p.outcome.has_value()) ids.push_back(pid);
  }
  if (ids.empty()) return {};
  return ids[static_cast<size_t>(Uniform(0, static_cast<int>(ids.size()) - 1))];
}

GovPlanned GovGenerator::Vote(const std::string& id, const State& model, uint64_t now_ms) {
  const int a = Uniform(0, static_cast<int>(cast_.agents.size()) - 1);
  std::string pid = Pick(model, /*open=*/Uniform(0, 9) != 0);  // one in ten: a closed one
  if (pid.empty() || Uniform(0, 29) == 0) pid = "no-such-proposal";
  const auto option = static_cast<VoteOption>(Uniform(1, 4));
  const Entry e = MakeVote(id, cast_.agents[a].public_key(), now_ms, VoteBody{pid, option});
  if (Uniform(0, 14) == 0) return {Signed(cast_.id, e, cast_.ledger), Code::kBadSignature};
  return {Signed(cast_.id, e, cast_.agents[a], cast_.ledger), Code::kOk};
}

GovPlanned GovGenerator::Outcome(const State& model, const gov::Book& book, uint64_t now_ms) {
  const gov::Due due = book.DueAt(now_ms);
  OutcomeBody body;
  if (!due.outcomes.empty() && Uniform(0, 4) != 0) {
    body = due.outcomes[static_cast<size_t>(Uniform(0, static_cast<int>(due.outcomes.size()) - 1))];
  } else {
    // Early (voting still open: kVotingOpen) or a second outcome (kVotingClosed).
    const std::string pid = Pick(model, /*open=*/Uniform(0, 1) == 0);
    if (pid.empty()) return Propose("op-x" + std::to_string(proposals_), now_ms);
    const gov::ProposalView v = *book.Find(pid);
    const ProposalBody& b = v.body;
    const auto result =
        v.outcome.value_or(gov::Decide(v.tally, {b.quorum_ppm, b.threshold_ppm, b.veto_ppm}));
    body = gov::OutcomeOf(pid, v.tally, result);
  }
  const ProposalInfo p = *model.Proposal(body.proposal);
  const bool vetoed = body.result == OutcomeResult::kVetoed;
  const Entry e = MakeOutcome(p.deposit, vetoed ? std::string(kBurned) : p.proposer, now_ms, body);
  return {Signed(cast_.id, e, cast_.ledger), Code::kOk};
}

GovPlanned GovGenerator::Execute(const State& model, const gov::Book& book, uint64_t now_ms) {
  const gov::Due due = book.DueAt(now_ms);
  std::string pid;
  uint64_t at = now_ms;
  if (!due.executions.empty() && Uniform(0, 4) != 0) {
    pid = due.executions[static_cast<size_t>(Uniform(0, static_cast<int>(due.executions.size()) - 1))];
  } else {
    // A decided one at any time: not passed (kNotAdopted), executed (kNotAdopted), or passed
    // but inside its timelock (kTimelocked).
    pid = Pick(model, /*open=*/false);
    if (pid.empty()) return Vote("op-y" + std::to_string(proposals_++), model, now_ms);
    for (const gov::ProposalView& v : book.List()) {
      if (v.outcome == OutcomeResult::kPassed && !v.executed && Uniform(0, 1) == 0) {
        pid = v.id;
        at = v.ExecutableAtMs() - 1;
        break;
      }
    }
  }
  const ProposalInfo p = *model.Proposal(pid);
  const bool grant = p.kind == ProposalKind::kGrant;
  const Entry e = MakeExecution(pid, grant ? p.grant_to : "", grant ? p.grant_amount : MicroPlume(0),
                                at);
  return {Signed(cast_.id, e, cast_.ledger), Code::kOk};
}

}  // namespace plume::ledger::test
