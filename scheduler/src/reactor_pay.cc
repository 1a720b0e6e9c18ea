// Reactor: ledger requests and the pay they report. Each job's requests reach the ledger in
// the order the core decided them: a request the ledger could not take now (an I/O error) is
// retried at the next tick, and every later request of its job waits behind it, so a job's
// release never closes the hold under a settle still to be applied.
//
// A result whose settle was kept is acknowledged only once the ledger has decided that settle
// (normally in the same turn): the ack's paidMicroPlume is then what the ledger really paid,
// 0 when it refused. While the ledger is down the agent hears nothing, probes again, and its
// resent result is answered when the settle is decided.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "reactor_impl.h"

namespace plume::scheduler {

void Reactor::Impl::AckAccepted(const ResultToVerify& r, const Task& t) {
  if (t.settle != SettleState::kKept) {
    // Waiting for its audit or challenge window: the pay is reported as 0 now (F11: never pay
    // that did not happen); `plume balance` shows it as pending verification until then.
    const std::string why =
        t.settle == SettleState::kUnpaid ? "accepted unpaid: no verified ledger receipt"
        : t.settle == SettleState::kNone && t.paid_micro_plume > 0
            ? "accepted; " + std::to_string(t.paid_micro_plume) +
                  " micro-PLUME pending verification (paid after the result's audit or "
                  "challenge window)"
            : "";
    return ReplyResultAck(r.peer, r.request_id, r.task_wire_id, r.attempt, true, why,
                          t.settle == SettleState::kApplied ? t.paid_micro_plume : 0);
  }
  pay_acks["settle:" + t.id] = PendingAck{r.peer, r.request_id, r.task_wire_id, r.attempt};
}

void Reactor::Impl::ApplyLedger(const LedgerOp& op) {
  const bool behind = std::any_of(ledger_retry.begin(), ledger_retry.end(),
                                  [&](const LedgerOp& d) { return d.job == op.job; });
  if (behind) {
    spdlog::info("job={} entry={}: waits behind the job's deferred ledger request", op.job, op.id);
    ledger_retry.push_back(op);
    return;
  }
  std::string refusal;
  Result<bool> applied = opt.ledger ? opt.ledger(op, refusal) : Result<bool>(true);
  if (!applied) {
    spdlog::warn("job={} entry={}: ledger unavailable: {} (retried next tick)", op.job, op.id,
                 applied.error().message);
    ledger_retry.push_back(op);
    return;
  }
  if (*applied) {
    internal.push_back(LedgerApplied{op.id});
  } else {
    internal.push_back(LedgerFailed{op.id, refusal});
  }
  if (op.kind == LedgerOpKind::kSettle) AckSettled(op, *applied, refusal);
}

void Reactor::Impl::AckSettled(const LedgerOp& op, bool applied, const std::string& refusal) {
  auto it = pay_acks.find(op.id);
  if (it == pay_acks.end()) return;
  const PendingAck a = it->second;
  pay_acks.erase(it);
  // The result itself was recorded (saved before this turn acts): accepted either way.
  ReplyResultAck(a.peer, a.request_id, a.task_wire_id, a.attempt, true,
                 applied ? "" : "result used, but the ledger refused its settle: " + refusal,
                 applied ? op.amount_micro_plume : 0);
}

}  // namespace plume::scheduler
