// Scheduler core: what a committed result earns, when it is paid, what a proven fault costs, and
// when a job's escrow goes back to its team (docs/payments.md).
//
// Payment after verification. A result is paid only once it is final: screened, and if drawn for
// a replay audit, matched (core_audit.cc settles it then); if not drawn, once the challenge window
// (Config::challenge_window_ms) after it finished has passed, on the first tick after that. A
// run proven faulty is never settled. The price is the task's own, fixed when it was assigned.
//
// Slashing. A conviction (core_audit.cc Referee) asks the ledger for one "slash:<faulty run>"
// whose amount and legs are verify/slash.h PlanSlash's: pay / p at least, so that cheating does
// not pay at the audit rate the run was drawn at. Other fault classes are not slashed: a refused
// screen costs pay and reputation, a missed deadline or a lost lease the same.
#include <algorithm>
#include <cstdint>

#include "core_impl.h"
#include "plume/ledger/amount.h"
#include "plume/verify/slash.h"

namespace plume::scheduler {

MicroPlume Core::Impl::EscrowSpent(const JobId& job) {
  const uint32_t fee_bps = s.jobs.at(job).spec.fee_bps;
  MicroPlume spent = 0;
  const JobSpec& spec = s.jobs.at(job).spec;
  for (const Task* t : TasksOf(job)) {
    spent = AddMicroPlume(
        spent, AddMicroPlume(t->paid_micro_plume,
                             ledger::FeeFor(ledger::MicroPlume(t->paid_micro_plume), fee_bps)
                                 .value()));
    // A settled task of the job's own also paid its royalty (reactor_tasks.cc).
    if (t->paid_micro_plume > 0 && t->audit_role == AuditRole::kNone) {
      spent = AddMicroPlume(spent, RoyaltyPerTaskMicroPlume(spec));
    }
  }
  return spent;
}

MicroPlume Core::Impl::PayFor(const Task& t, const Job& job) {
  MicroPlume price = t.price_micro_plume_per_pflop;
  if (price == 0) {
    // Assigned by a scheduler that did not fix prices yet: the node's price as it was then is
    // lost; its current one, bounded by the job's maximum as before, is the best there is.
    const Node* n = FindNode(t.node);
    if (n == nullptr) return 0;
    price = std::min(n->info.price_micro_plume_per_pflop, job.spec.max_price_micro_plume_per_pflop);
  }
  return PayMicroPlume(t.flops, std::max<MicroPlume>(price, 0));
}

void Core::Impl::Settle(Task& t, Job& job) {
  t.settle_deferred = false;
  Touch(t);
  if (t.settle == SettleState::kUnpaid) {  // no verified ledger receipt: nothing is owed
    t.paid_micro_plume = 0;
    return;
  }
  // Audit and referee runs are paid from the job's verification reserve, which covered them
  // before the audit was drawn (core_verdict.cc PromiseReserve): always. Only a job stored before
  // reserves existed pays them from what its escrow has left, and not when that is spent (the
  // run's own amount is already in EscrowSpent, reserved when it was committed).
  if (t.audit_role != AuditRole::kNone && job.spec.verification_reserve_bps == 0 &&
      EscrowSpent(job.id) > job.spec.escrow_micro_plume) {
    t.paid_micro_plume = 0;
    t.settle = SettleState::kUnpaid;
    Info("audit run not paid: the job's escrow is spent", job.id, t.id, t.node);
    return;
  }
  // The job's spent grows when the ledger applies the settle (OnLedgerApplied).
  t.settle = SettleState::kKept;
  AddLedgerOp(LedgerOp{"settle:" + t.id, 0, LedgerOpKind::kSettle, job.id, job.owner, t.node, t.id,
                       t.attempt, t.paid_micro_plume, t.flops, {}, {}});
}

void Core::Impl::AwaitWindow(Task& t, Job& job) {
  if (t.settle == SettleState::kUnpaid || config.challenge_window_ms <= 0) return Settle(t, job);
  const int64_t window_ms = config.challenge_window_ms;
  t.final_at_ms = t.finished_at_ms > INT64_MAX - window_ms ? INT64_MAX : t.finished_at_ms + window_ms;
  window_due.insert({t.final_at_ms, t.id});
  window_tasks.insert(t.id);
  Touch(t);
}

void Core::Impl::CheckSettleWindows() {
  std::set<JobId> settled;
  while (!window_due.empty() && window_due.begin()->first <= now) {
    const TaskId id = window_due.begin()->second;
    window_due.erase(window_due.begin());
    window_tasks.erase(id);
    Task* t = FindTask(id);
    if (t == nullptr || t->state != TaskState::kSucceeded || t->settle != SettleState::kNone) {
      continue;
    }
    Settle(*t, s.jobs.at(t->job));
    settled.insert(t->job);
  }
  for (const JobId& id : settled) ReleaseIfDone(s.jobs.at(id));
}

void Core::Impl::ReleaseIfDone(Job& job) {
  if (!IsTerminal(job.state) || !job.escrow_held) return;
  const std::string prefix = job.id + "/";
  // Open audits may still settle from the escrow, and so may results in their window.
  for (const std::set<TaskId>* open : {&open_audits, &window_tasks}) {
    auto it = open->lower_bound(prefix);
    if (it != open->end() && it->compare(0, prefix.size(), prefix) == 0) return;
  }
  // The same id as FinishJob's: the ledger applies it once if both ever ask.
  AddLedgerOp(
      LedgerOp{"release:" + job.id, 0, LedgerOpKind::kRelease, job.id, job.owner, "", "", 0, 0, 0, {}, {}});
}

void Core::Impl::Slash(Verdict& v, const Task& faulty, MicroPlume clawback, const Task& orig,
                       const Task& audit, const Task* referee) {
  const std::string id = "slash:" + faulty.id;
  // One slash per fault: a verdict is decided once, and a decided slash is kept on the verdict
  // and in the outbox until applied (the ledger also refuses a second slash of the same run).
  if (v.slashed_micro_plume > 0 || s.outbox.contains(id)) return;
  Node* n = FindNode(faulty.node);
  if (n == nullptr) return;
  const Job& job = s.jobs.at(faulty.job);
  const MicroPlume pay = PayFor(faulty, job);
  // The rate the faulty run was drawn at; an audit run is compared with certainty (its original
  // and the referee decide), so p = 1.
  const uint32_t p_ppm = faulty.audit_role == AuditRole::kNone ? faulty.audit_rate_ppm : 1'000'000;
  // The team's cost of the fault: the faulty run's pay (its work is done again, or replaced), and
  // the verification runs it paid for.
  MicroPlume rerun = pay;
  for (const Task* run : {&audit, referee}) {
    if (run != nullptr && run != &faulty) rerun += run->paid_micro_plume;
  }
  // No referee: a malformed commitment chain convicted on its own (core_dispute.cc), and the
  // other run found it.
  const NodeId& finder = referee != nullptr && !referee->node.empty() ? referee->node
                         : &faulty == &orig    ? audit.node
                                               : NodeId{};
  verify::SlashInputs in;
  in.pay_micro_plume = pay;
  in.audit_rate_ppm = p_ppm;
  in.slashable_micro_plume = n->stake_micro_plume + n->unbonding_micro_plume;
  in.slash_bps = config.slash_bps;
  in.finder_fee_bps = config.finder_fee_bps;
  in.clawback_micro_plume = clawback;
  in.rerun_cost_micro_plume = rerun;
  in.team_account = "team:" + job.owner;
  in.finder_account = finder.empty() || finder == faulty.node ? "" : "provider:" + finder;
  const verify::SlashPlan plan = verify::PlanSlash(in);
  if (plan.total_micro_plume <= 0) {
    Warn("proven faulty, but nothing is staked to slash", job.id, faulty.id, faulty.node);
    return;
  }
  v.slashed_micro_plume = plan.total_micro_plume;
  dirty_verdicts.insert(v.task);
  LedgerOp op{id, 0, LedgerOpKind::kSlash, job.id, job.owner, faulty.node, faulty.id,
              faulty.attempt, plan.total_micro_plume, faulty.flops, {}, {}};
  for (const verify::SlashPlanLeg& leg : plan.legs) {
    op.legs.push_back(SlashLeg{static_cast<uint8_t>(leg.kind), leg.account, leg.amount_micro_plume});
  }
  op.memo = std::string(verify::kAuditPolicy) + " " + verify::kSlashPolicy + " task " + faulty.id +
            " attempt " + std::to_string(faulty.attempt) + " outputs " + v.original_output +
            " " + v.audit_output + " " + v.referee_output + " p_ppm " + std::to_string(p_ppm) +
            " pay " + std::to_string(pay);
  // A dispute decided on commitment chains: the link and the share of the task the referee
  // recomputed (`plume audit` prints them as the scheduler's word: the ledger has no chains).
  if (v.dispute_link >= 0) {
    op.memo += " dispute_link " + std::to_string(v.dispute_link) + " recomputed " +
               std::to_string(v.recomputed_fraction);
  }
  op.memo.resize(std::min<size_t>(op.memo.size(), 1024));  // ASCII: any cut is valid UTF-8
  AddLedgerOp(std::move(op));
  // Until the shell reports the ledger's stake (StakeChanged), take the slash off the record
  // here too (stake first, then unbonding, as the ledger does): an under-staked provider is not
  // placed in the meantime.
  Unfree(*n);
  const MicroPlume from_stake = std::min(n->stake_micro_plume, plan.total_micro_plume);
  n->stake_micro_plume -= from_stake;
  n->unbonding_micro_plume -=
      std::min(n->unbonding_micro_plume, plan.total_micro_plume - from_stake);
  ++n->slashes;
  Refree(*n);
  Touch(*n);
  Warn("slashed " + std::to_string(plan.total_micro_plume) + " micro-PLUME for " + faulty.id +
           " (pay " + std::to_string(pay) + " at audit rate " + std::to_string(p_ppm) + " ppm)",
       job.id, faulty.id, faulty.node);
}

}  // namespace plume::scheduler
