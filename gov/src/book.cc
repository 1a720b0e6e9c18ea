// The governance book (see book.h).
#include "plume/gov/book.h"

#include <algorithm>

#include "plume/gov/proposal.h"

namespace plume::gov {
namespace {
using ledger::EntryType;
using ledger::MicroPlume;

std::string Named(const ledger::Entry& e) {
  return std::string(ledger::EntryTypeName(e.type)) + " '" + e.id + "'";
}
bool IsStakeAccount(const std::string& a) { return a.starts_with("stake:"); }

}  // namespace

uint64_t ProposalView::ExecutableAtMs() const {
  const uint64_t end = body.voting_end_ms;
  return end + body.timelock_ms < end ? UINT64_MAX : end + body.timelock_ms;
}

Book::Book(Params initial) : params_(initial) {}

Status Book::Apply(uint64_t index, const ledger::Entry& e) {
  switch (e.type) {
    case EntryType::kStake:
      MoveStake(e.to, e.amount.value());
      return {};
    case EntryType::kUnstake:
      MoveStake(e.from, -e.amount.value());
      return {};
    case EntryType::kSlash: {
      // The ledger takes a slash from stake first, then from unbonding tranches.
      const int64_t from_stake = std::min(StakeOf(e.from).value(), e.amount.value());
      MoveStake(e.from, -from_stake);
      return {};
    }
    case EntryType::kGovProposal:
      return ApplyProposal(index, e);
    case EntryType::kGovVote:
      return ApplyVote(e);
    case EntryType::kGovOutcome:
      return ApplyOutcome(e);
    case EntryType::kGovExecution:
      return ApplyExecution(e);
    default:
      return {};
  }
}

void Book::MoveStake(const std::string& account, int64_t delta) {
  if (delta == 0 || !IsStakeAccount(account)) return;
  const MicroPlume was = StakeOf(account);
  // Copy on write: every open proposal keeps the balance it saw.
  for (auto& [id, r] : proposals_) {
    if (!r.view.outcome) r.before.try_emplace(account, was);
  }
  stake_[account] = MicroPlume(was.value() + delta);
  staked_ = MicroPlume(staked_.value() + delta);
}

MicroPlume Book::StakeOf(const std::string& account) const {
  auto it = stake_.find(account);
  return it == stake_.end() ? MicroPlume(0) : it->second;
}

MicroPlume Book::PowerOf(const std::string& id, const std::string& account) const {
  auto p = proposals_.find(id);
  if (p == proposals_.end()) return MicroPlume(0);
  auto b = p->second.before.find(account);
  return b != p->second.before.end() ? b->second : StakeOf(account);
}

Status Book::ApplyProposal(uint64_t index, const ledger::Entry& e) {
  auto body = ledger::DecodeProposal(e.body);
  if (!body) return Fail(Named(e) + ": " + body.error().message);
  if (std::string p = StaticProblem(*body); !p.empty()) return Fail(Named(e) + ": " + p);
  if (proposals_.contains(e.id)) return Fail(Named(e) + ": the proposal exists already");
  Record r;
  r.view.id = e.id;
  r.view.proposer = e.from;
  r.view.deposit = e.amount;
  r.view.index = index;
  r.view.opened_at_ms = e.at_ms;
  r.view.body = std::move(*body);
  r.view.tally.staked = staked_;
  proposals_.emplace(e.id, std::move(r));
  ++open_;
  return {};
}

Status Book::ApplyVote(const ledger::Entry& e) {
  auto body = ledger::DecodeVote(e.body);
  if (!body) return Fail(Named(e) + ": " + body.error().message);
  auto it = proposals_.find(body->proposal);
  if (it == proposals_.end()) return Fail(Named(e) + ": a vote on an unknown proposal");
  Record& r = it->second;
  if (r.view.outcome || e.at_ms >= r.view.body.voting_end_ms) {
    return Fail(Named(e) + ": a vote after voting ended");
  }
  r.votes[e.from] = body->option;
  ++r.cast[e.from];
  r.view.tally = Count(it->first);
  return {};
}

Tally Book::Count(const std::string& id) const {
  const Record& r = proposals_.at(id);
  Tally t;
  t.staked = r.view.tally.staked;
  for (const auto& [account, option] : r.votes) {
    const MicroPlume power = PowerOf(id, account);
    MicroPlume* bucket = option == ledger::VoteOption::kYes       ? &t.yes
                         : option == ledger::VoteOption::kNo      ? &t.no
                         : option == ledger::VoteOption::kAbstain ? &t.abstain
                                                                  : &t.veto;
    *bucket = MicroPlume(bucket->value() + power.value());  // sum <= staked: no overflow
    ++t.voters;
  }
  return t;
}

Status Book::ApplyOutcome(const ledger::Entry& e) {
  auto body = ledger::DecodeOutcome(e.body);
  if (!body) return Fail(Named(e) + ": " + body.error().message);
  auto it = proposals_.find(body->proposal);
  if (it == proposals_.end()) return Fail(Named(e) + ": an outcome of an unknown proposal");
  Record& r = it->second;
  if (r.view.outcome) return Fail(Named(e) + ": a second outcome");
  const Tally t = Count(it->first);
  const ledger::ProposalBody& b = r.view.body;
  const auto result = Decide(t, TallyRules{b.quorum_ppm, b.threshold_ppm, b.veto_ppm});
  if (TallyIn(*body) != t || body->result != result) {
    return Fail(Named(e) + " records " + std::string(ledger::OutcomeResultName(body->result)) +
                " (yes " + std::to_string(body->yes.value()) + ", no " +
                std::to_string(body->no.value()) + ") but the recount gives " +
                std::string(ledger::OutcomeResultName(result)) + " (yes " +
                std::to_string(t.yes.value()) + ", no " + std::to_string(t.no.value()) + ")");
  }
  r.view.tally = t;
  r.view.outcome = result;
  r.before.clear();  // the snapshot is needed no more: the tally is final
  --open_;
  ++outcomes_[static_cast<size_t>(result)];
  return {};
}

Status Book::ApplyExecution(const ledger::Entry& e) {
  auto body = ledger::DecodeExecution(e.body);
  if (!body) return Fail(Named(e) + ": " + body.error().message);
  auto it = proposals_.find(body->proposal);
  if (it == proposals_.end()) return Fail(Named(e) + ": an execution of an unknown proposal");
  ProposalView& v = it->second.view;
  if (v.outcome != ledger::OutcomeResult::kPassed || v.executed) {
    return Fail(Named(e) + ": an execution of a proposal that did not pass, or ran already");
  }
  if (e.at_ms < v.ExecutableAtMs()) return Fail(Named(e) + ": an execution inside the timelock");
  if (v.body.kind == ledger::ProposalKind::kParamChange) {
    const Param p = *ParamByName(v.body.param);  // StaticProblem checked the name
    params_.Set(p, v.body.value);
    set_by_[static_cast<size_t>(p)] = v.id;
  } else if (e.to != v.body.grant_to || e.amount != v.body.grant_amount) {
    return Fail(Named(e) + ": the grant is not the one voted on");
  }
  v.executed = true;
  v.executed_at_ms = e.at_ms;
  return {};
}

std::optional<ProposalView> Book::Find(const std::string& id) const {
  auto it = proposals_.find(id);
  if (it == proposals_.end()) return std::nullopt;
  return it->second.view;
}

std::vector<ProposalView> Book::List() const {
  std::vector<ProposalView> out;
  out.reserve(proposals_.size());
  for (const auto& [id, r] : proposals_) out.push_back(r.view);
  return out;
}

Due Book::DueAt(uint64_t now_ms) const {
  Due due;
  for (const auto& [id, r] : proposals_) {
    const ProposalView& v = r.view;
    if (!v.outcome && now_ms >= v.body.voting_end_ms) {
      const Tally t = Count(id);
      const auto result =
          Decide(t, TallyRules{v.body.quorum_ppm, v.body.threshold_ppm, v.body.veto_ppm});
      due.outcomes.push_back(OutcomeOf(id, t, result));
    } else if (v.outcome == ledger::OutcomeResult::kPassed && !v.executed &&
               now_ms >= v.ExecutableAtMs()) {
      due.executions.push_back(id);
    }
  }
  return due;
}

uint32_t Book::VotesCast(const std::string& id, const std::string& account) const {
  auto p = proposals_.find(id);
  if (p == proposals_.end()) return 0;
  auto c = p->second.cast.find(account);
  return c == p->second.cast.end() ? 0 : c->second;
}

uint64_t Book::outcomes(ledger::OutcomeResult r) const {
  return outcomes_[static_cast<size_t>(r)];
}

bool Recounter::Add(const ledger::Entry& e) {
  if (!report_.problem.empty()) return false;
  if (Status s = book_.Apply(index_, e); !s) {
    report_.problem = "entry " + std::to_string(index_) + ": " + s.error().message;
    return false;
  }
  ++index_;
  report_.proposals += e.type == EntryType::kGovProposal;
  report_.outcomes += e.type == EntryType::kGovOutcome;
  report_.votes += e.type == EntryType::kGovVote;
  return true;
}

RecountReport Recounter::Finish() const {
  RecountReport r = report_;
  r.ok = r.problem.empty();
  return r;
}

RecountReport Recount(std::span<const ledger::Entry> entries) {
  Recounter recounter;
  for (const ledger::Entry& e : entries) {
    if (!recounter.Add(e)) break;
  }
  return recounter.Finish();
}

}  // namespace plume::gov
