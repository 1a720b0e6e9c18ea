// The scheduler's governance driver (see gov_driver.h): the book fed from the ledger, the
// appends that are due, and the checks of what clients submit.
#include "plume/scheduler/gov_driver.h"

#include <spdlog/spdlog.h>

#include "plume/gov/proposal.h"
#include "plume/ledger/gov.h"

namespace plume::scheduler {
using gov::Param;

gov::Params ParamsOfConfig(const Config& c, gov::Params p) {
  p.Set(Param::kFeeBps, c.fee_bps);
  p.Set(Param::kAuditRateMinPpm, c.audit.p_min_ppm);
  p.Set(Param::kMinStakePerDevice, c.min_stake_per_device_micro_plume);
  p.Set(Param::kSlashBps, c.slash_bps);
  p.Set(Param::kFinderFeeBps, c.finder_fee_bps);
  p.Set(Param::kChallengeWindowMs, c.challenge_window_ms);
  return p;
}

ParamsChanged ParamsChangedOf(const gov::Params& p) {
  return ParamsChanged{static_cast<uint32_t>(p.Get(Param::kFeeBps)),
                       static_cast<uint32_t>(p.Get(Param::kAuditRateMinPpm)),
                       p.Get(Param::kMinStakePerDevice),
                       static_cast<uint32_t>(p.Get(Param::kSlashBps)),
                       static_cast<uint32_t>(p.Get(Param::kFinderFeeBps)),
                       p.Get(Param::kChallengeWindowMs)};
}

void ApplyParams(const gov::Params& p, Config& c) {
  const ParamsChanged v = ParamsChangedOf(p);
  c.fee_bps = v.fee_bps;
  c.audit.p_min_ppm = v.audit_p_min_ppm;
  c.min_stake_per_device_micro_plume = v.min_stake_per_device;
  c.slash_bps = v.slash_bps;
  c.finder_fee_bps = v.finder_fee_bps;
  c.challenge_window_ms = v.challenge_window_ms;
}

Result<std::unique_ptr<GovDriver>> GovDriver::Open(LedgerBridge& bridge,
                                                   const Identity& ledger_key,
                                                   gov::Params initial) {
  std::unique_ptr<GovDriver> d(new GovDriver(bridge, ledger_key, initial));
  if (Status s = d->CatchUp(); !s) return tl::unexpected(s.error());
  return d;
}

Status GovDriver::CatchUp() {
  ledger::Ledger& l = bridge_.ledger();
  if (fed_ >= l.size()) return {};
  std::string problem;
  auto s = l.ForEachEntry(fed_, [&](const ledger::LoggedEntry& e) {
    if (Status st = book_.Apply(e.index, e.entry); !st) {
      // The ledger applied it, so the book must follow; a mismatch is a recount failure that
      // `plume ledger verify` reports too. Log it loudly and go on rather than stop governance.
      spdlog::error("governance book: {}", st.error().message);
    }
    fed_ = e.index + 1;
    return true;
  });
  if (!s) return Fail("reading the ledger for governance: " + s.error().message);
  return {};
}

Result<ledger::ApplyResult> GovDriver::AppendSigned(ledger::Entry e) {
  e.signatures.push_back(ledger::SignEntry(e, bridge_.ledger().keys().ledger_id, key_));
  auto r = bridge_.ledger().Append(std::span<const ledger::Entry>(&e, 1));
  if (!r) return tl::unexpected(r.error());
  if (Status s = CatchUp(); !s) spdlog::warn("{}", s.error().message);
  return r->at(0);
}

std::optional<ParamsChanged> GovDriver::Tick() {
  if (Status s = CatchUp(); !s) {
    spdlog::warn("{} (retried next tick)", s.error().message);
    return std::nullopt;
  }
  const uint64_t now = bridge_.NowUnixMs();
  const gov::Due due = book_.DueAt(now);
  const gov::Params before = book_.params();
  for (const ledger::OutcomeBody& o : due.outcomes) {
    const gov::ProposalView p = *book_.Find(o.proposal);
    const bool vetoed = o.result == ledger::OutcomeResult::kVetoed;
    auto r = AppendSigned(ledger::MakeOutcome(p.deposit, vetoed ? std::string(ledger::kBurned)
                                                                : p.proposer,
                                              now, o));
    if (!r) return spdlog::warn("gov outcome of {}: {}", o.proposal, r.error().message), std::nullopt;
    spdlog::info("proposal={} outcome {} (yes {} no {} abstain {} veto {} of {} staked) entry={}",
                 o.proposal, ledger::OutcomeResultName(o.result), o.yes.value(), o.no.value(),
                 o.abstain.value(), o.veto.value(), o.staked.value(),
                 ledger::CodeName(r->code));
  }
  for (const std::string& id : due.executions) {
    const gov::ProposalView p = *book_.Find(id);
    const bool grant = p.body.kind == ledger::ProposalKind::kGrant;
    // A grantee may be a key the ledger has never seen: its account is opened first, else the
    // ledger would refuse the credit (unknown_account) on every tick for ever.
    if (Status opened = grant ? bridge_.OpenIfNeeded(p.body.grant_to) : Status{}; !opened) {
      spdlog::warn("proposal={} grantee {}: {} (retried)", id, p.body.grant_to,
                   opened.error().message);
      continue;
    }
    auto r = AppendSigned(ledger::MakeExecution(id, grant ? p.body.grant_to : "",
                                                grant ? p.body.grant_amount : ledger::MicroPlume(0),
                                                now));
    if (!r) return spdlog::warn("gov execution of {}: {}", id, r.error().message), std::nullopt;
    // A grant the treasury cannot pay yet is refused by the ledger and tried again next tick.
    if (r->code != ledger::Code::kOk && r->code != ledger::Code::kIdExists) {
      spdlog::warn("proposal={} execution refused: {} (retried)", id, ledger::CodeName(r->code));
      continue;
    }
    spdlog::info("proposal={} executed: {}", id,
                 grant ? "grant of " + std::to_string(p.body.grant_amount.value()) + " to " +
                             p.body.grant_to
                       : p.body.param + " = " + std::to_string(p.body.value));
  }
  if (book_.params() == before) return std::nullopt;
  return ParamsChangedOf(book_.params());
}

std::string GovDriver::VoteProblem(const ledger::Entry& e, uint64_t now) const {
  auto body = ledger::DecodeVote(e.body);
  if (!body) return body.error().message;
  const auto p = book_.Find(body->proposal);
  if (!p) return "no proposal " + body->proposal;
  if (p->outcome || now >= p->body.voting_end_ms) return "voting on " + body->proposal + " ended";
  const uint64_t skew = e.at_ms > now ? e.at_ms - now : now - e.at_ms;
  if (skew > kVoteClockSkewMs) return "the vote's time is too far from the scheduler's clock";
  if (book_.PowerOf(body->proposal, e.from).value() <= 0) {
    return "no voting power: " + e.from + " held no stake when voting on " + body->proposal +
           " opened";
  }
  if (book_.VotesCast(body->proposal, e.from) >= kVoteChangesMax) {
    return "at most " + std::to_string(kVoteChangesMax) + " votes per staker and proposal";
  }
  return {};
}

Result<ledger::ApplyResult> GovDriver::Submit(ledger::Entry e, std::string& why) {
  if (Status s = CatchUp(); !s) return tl::unexpected(s.error());
  const uint64_t now = bridge_.NowUnixMs();
  if (e.type == ledger::EntryType::kGovProposal) {
    gov::ProposalContext ctx;
    ctx.params = book_.params();
    ctx.unbonding_ms = bridge_.unbonding_ms();
    ctx.now_ms = now;
    ctx.open_proposals = book_.open_count();
    ctx.treasury = bridge_.ledger().Balance(ledger::kTreasury).value_or(ledger::MicroPlume(0));
    why = gov::ProposalProblem(e, ctx);
  } else if (e.type == ledger::EntryType::kGovVote) {
    why = VoteProblem(e, now);
  } else {
    why = "only proposals and votes travel as GovRequest";
  }
  // Ids of entries the ledger has answer as retries, whatever the clock says now.
  if (!why.empty() && !bridge_.ledger().IndexOf(e.id)) {
    return ledger::ApplyResult{ledger::Code::kInvalid, 0};
  }
  why.clear();
  return AppendSigned(std::move(e));
}

GovStats GovDriver::stats() const {
  GovStats s;
  s.open = book_.open_count();
  s.passed = book_.outcomes(ledger::OutcomeResult::kPassed);
  s.no_quorum = book_.outcomes(ledger::OutcomeResult::kNoQuorum);
  s.rejected = book_.outcomes(ledger::OutcomeResult::kRejected);
  s.vetoed = book_.outcomes(ledger::OutcomeResult::kVetoed);
  uint64_t latest = 0;
  for (const gov::ProposalView& v : book_.List()) {
    s.executed += v.executed;
    if (v.outcome && v.index >= latest) {
      latest = v.index;
      s.last_turnout_ratio = gov::TurnoutPpm(v.tally) / 1e6;
    }
  }
  return s;
}

}  // namespace plume::scheduler
