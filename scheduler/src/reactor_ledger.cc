// Reactor: the ledger messages (LedgerQuery, LedgerSubmit, LedgerMint; docs/protocol.md
// "Ledger"). The
// reactor does not link the ledger: it decides who may ask what and which account a query is
// about, then hands the request to the ledger_service hook (reactor.h), which main.cc binds to
// the LedgerBridge (ledger_bridge_wire.cc).
//
// Who may read what. Any authenticated principal may read any balance, the signed head and
// consistency proofs. History (which entries moved whose money) and inclusion proofs (the entry
// itself: a settle's receipt names the task's blobs) are narrower: a principal reads the
// accounts its key owns (team:, provider:, stake:, unbond:<own key>) and the escrow:<job> of its
// own jobs; the operator key reads every account and the whole log ("*"). Submits (mints,
// transfers, stake, unstake) are open to any sender: the ledger itself refuses an entry that the
// key its rules name did not sign.
//
// The scheduler's own word joins the ledger's in two answers: a provider:/team: balance carries
// the pay of results not settled yet (PendingPay, from the task records), and stakeTerms the
// core's minimum stake and challenge window.
#include <spdlog/spdlog.h>

#include "reactor_impl.h"

namespace plume::scheduler {
namespace {

constexpr const char* kNoLedger =
    "this scheduler keeps no ledger (it was started without --operator-id)";

}  // namespace

bool Reactor::Impl::MayReadHistory(const PublicKey& principal, const std::string& account) const {
  if (opt.ledger_operator && principal == *opt.ledger_operator) return true;
  const std::string me = ToHex(principal);
  if (account == "team:" + me || account == "provider:" + me || account == "stake:" + me ||
      account == "unbond:" + me) {
    return true;
  }
  if (account.starts_with("escrow:")) {
    auto job = core.state().jobs.find(account.substr(7));
    return job != core.state().jobs.end() && job->second.owner == me;
  }
  return false;
}

void Reactor::Impl::OnLedgerQuery(Incoming& in) {
  const uint64_t rid = in.message.request_id();
  if (!opt.ledger_service) return ReplyError(in.peer, rid, wire::ErrorCode::UNEXPECTED, kNoLedger);
  auto q = in.message.body().getLedgerQuery();
  const std::string own_team = "team:" + ToHex(in.principal);
  std::string account;
  if (q.which() == wire::LedgerQuery::BALANCE) {
    account = q.getBalance();
    if (account.empty()) account = own_team;
  } else if (q.which() == wire::LedgerQuery::HISTORY) {
    account = q.getHistory().getAccount();
    if (account.empty()) account = own_team;
    if (!MayReadHistory(in.principal, account)) {
      spdlog::info("ledger history of {} refused to {}", account.substr(0, 80),
                   ToHex(in.principal).substr(0, 16));
      return ReplyError(in.peer, rid, wire::ErrorCode::UNAUTHORIZED,
                        "the history of " + account.substr(0, 100) +
                            " is not yours to read: you may read " + own_team +
                            ", provider:/stake:/unbond:<your key> and escrow:<your job>; any balance "
                            "is public (plume balance ACCOUNT)");
    }
  }
  auto m = NewMessage(rid);
  const PublicKey who = in.principal;
  opt.ledger_service(in.message.body(), account, m.body(),
                     [this, &who](const std::string& a) { return MayReadHistory(who, a); });
  if (m.body().which() == wire::Envelope::Body::LEDGER_REPLY) {
    auto r = m.body().getLedgerReply();
    if (r.which() == wire::LedgerReply::BALANCE) {
      r.getBalance().setPendingMicroPlume(PendingPay(account));
    }
    if (r.which() == wire::LedgerReply::STAKE_TERMS) {
      auto t = r.getStakeTerms();
      t.setMinStakePerDeviceMicroPlume(core.config().min_stake_per_device_micro_plume);
      t.setChallengeWindowMs(static_cast<uint64_t>(std::max<int64_t>(0, core.config().challenge_window_ms)));
    }
  }
  Reply(in.peer, m);
}

MicroPlume Reactor::Impl::PendingPay(const std::string& account) const {
  const bool provider = account.starts_with("provider:");
  if (!provider && !account.starts_with("team:")) return 0;
  const std::string key = account.substr(account.find(':') + 1);
  const State& s = core.state();
  MicroPlume pending = 0;
  // O(tasks): a balance query is rare next to the task traffic, and the records are in memory.
  for (const auto& [id, t] : s.tasks) {
    if (t.state != TaskState::kSucceeded || t.paid_micro_plume <= 0) continue;
    // kNone: held for its audit or challenge window; kKept: its settle request is on its way.
    if (t.settle != SettleState::kNone && t.settle != SettleState::kKept) continue;
    bool mine = t.node == key;
    if (!provider) {
      auto j = s.jobs.find(t.job);
      mine = j != s.jobs.end() && j->second.owner == key;
    }
    if (mine) pending += t.paid_micro_plume;
  }
  return pending;
}

void Reactor::Impl::OnLedgerSubmit(Incoming& in) {
  const uint64_t rid = in.message.request_id();
  if (!opt.ledger_service) return ReplyError(in.peer, rid, wire::ErrorCode::UNEXPECTED, kNoLedger);
  auto m = NewMessage(rid);
  opt.ledger_service(in.message.body(), "", m.body(), nullptr);
  Reply(in.peer, m);
}

}  // namespace plume::scheduler
