// Scheduler core: what pays for verification, and what of it the ledger records.
//
// The verification reserve. A job's escrow holds, besides its own tasks at the maximum price,
// a reserve (JobSpec::verification_reserve_bps of that cost, limits.h) from which its audit and
// referee runs are paid. An audit is drawn only when the reserve's part not yet promised covers
// it and a possible referee, each at the job's maximum price (VerificationRunCostMicroPlume);
// so a verification run that produced a verified receipt is always paid, whatever its result
// (docs/payments.md). At the default (20000 bps) every result of the job can be audited and
// refereed; below it, the job's later results are not drawn (AuditStatus::kNoReserve) and wait
// for their challenge window like any unaudited result. What the reserve did not pay goes back
// to the team with the job's release.
//
// Verdicts in the ledger. Every audit that concludes (matched, a conviction, undecided) asks
// for one "verdict:<original>" entry naming its runs by their receipts' task ids and output
// hashes (ledger/verdict.h), and a run proven faulty that nobody paid has its kept receipt
// recorded as "receipt:<run>" (moves nothing), so each run of the verdict has a receipt in the
// ledger (settle, slash or task_receipt) and a third party recomputes the outcome from the
// ledger alone (`plume audit JOB`). Both are outbox requests, persisted with the decision: a
// scheduler killed before they reach the ledger sends them again, and the ledger applies each id
// once. A dispute/1 verdict also names its evidence blob (verify/evidence.h): both runs' lists,
// the referee's recomputed commitments and the receipts that sign them, so that its outcome too
// is recomputed by a third party (`plume audit JOB` fetches the blob).
#include "core_impl.h"
#include "plume/ledger/verdict.h"
#include "plume/scheduler/dispute_evidence.h"
#include "plume/verify/dispute.h"
#include "verdict_memo.h"

namespace plume::scheduler {
namespace {

std::optional<ledger::VerdictOutcome> LedgerOutcome(AuditStatus a) {
  switch (a) {
    case AuditStatus::kMatched: return ledger::VerdictOutcome::kMatched;
    case AuditStatus::kOriginalFaulty: return ledger::VerdictOutcome::kOriginalFaulty;
    case AuditStatus::kAuditorFaulty: return ledger::VerdictOutcome::kAuditorFaulty;
    case AuditStatus::kUndecided: return ledger::VerdictOutcome::kUndecided;
    default: return std::nullopt;  // not concluded, or never audited
  }
}

ledger::VerdictRun RunOf(const Task& t) {
  ledger::VerdictRun r;
  r.task = std::to_string(t.wire_id);  // what the receipt names the task by
  if (auto h = MemoHash(t.output_blob)) r.output = *h;
  return r;
}

}  // namespace

MicroPlume Core::Impl::VerificationPromised(const JobId& job) {
  const JobSpec& spec = s.jobs.at(job).spec;
  MicroPlume promised = 0;
  // Each drawn audit promised its own run and a referee, at the maximum price: kept for the
  // job's life, so a run that ends (paid or not) never frees room for more audits than the
  // reserve was sized for.
  for (const Task* t : TasksOf(job)) {
    if (t->audit_role != AuditRole::kAudit) continue;
    const MicroPlume run = VerificationRunCostMicroPlume(spec, t->flops);
    promised = AddMicroPlume(promised, AddMicroPlume(run, run));
  }
  return promised;
}

bool Core::Impl::PromiseReserve(const Job& job, const Task& t) {
  // A job stored before reserves existed: drawn as then (its audit runs are paid from what its
  // escrow has left; Settle). At the full bound every result's audit and referee fit.
  if (job.spec.verification_reserve_bps == 0 ||
      job.spec.verification_reserve_bps >= kVerificationReserveBpsMax) {
    return true;
  }
  // What the job's audits promised so far: counted once per job after a start (a scan of its
  // tasks), then kept up to date here, so a draw costs O(1) however large the job.
  auto it = reserve_promised.find(job.id);
  if (it == reserve_promised.end()) {
    it = reserve_promised.emplace(job.id, VerificationPromised(job.id)).first;
  }
  const MicroPlume run = VerificationRunCostMicroPlume(job.spec, t.flops);
  const MicroPlume need = AddMicroPlume(it->second, AddMicroPlume(run, run));
  if (need > VerificationReserveMicroPlume(job.spec)) return false;
  it->second = need;  // the caller draws the audit now
  return true;
}

void Core::Impl::RecordFaultyReceipt(const Task& faulty, const Job& job) {
  AddLedgerOp(LedgerOp{"receipt:" + faulty.id, 0, LedgerOpKind::kReceipt, job.id, job.owner,
                       faulty.node, faulty.id, faulty.attempt, 0, faulty.flops, {}, {}});
}

void Core::Impl::RecordVerdict(const Task& orig) {
  const auto outcome = LedgerOutcome(orig.audit);
  if (!outcome) return;
  const Job& job = s.jobs.at(orig.job);
  ledger::VerdictFact f;
  f.task = orig.id;
  f.outcome = *outcome;
  f.policy = verify::kAuditPolicy;
  f.runs.push_back(RunOf(orig));
  const Task* audit = FindTask(orig.id + "/audit");
  if (audit == nullptr || audit->state != TaskState::kSucceeded) return;  // nothing compared
  f.runs.push_back(RunOf(*audit));
  if (const Task* referee = FindTask(orig.id + "/referee");
      referee != nullptr && referee->state == TaskState::kSucceeded) {
    f.runs.push_back(RunOf(*referee));
    f.recomputed_ppm = 1'000'000;
  }
  if (auto v = s.verdicts.find(orig.id); v != s.verdicts.end()) {
    f.policy = v->second.policy;
    f.dispute_link = std::max<int32_t>(-1, v->second.dispute_link);
    if (v->second.dispute_link >= 0 || f.runs.size() == 3) {
      f.recomputed_ppm = static_cast<uint32_t>(
          std::clamp(v->second.recomputed_fraction, 0.0, 1.0) * 1'000'000.0 + 0.5);
    }
  }
  if (f.policy == verify::kDisputePolicy) {
    // The lists it was decided on, named by hash: the reactor writes the same bytes to the blob
    // store once this turn is saved (dispute_evidence.h), before the entry is sent.
    if (auto e = DisputeEvidenceOf(s, orig.id)) {
      f.evidence = verify::EvidenceHash(verify::EncodeEvidence(*e));
      VerdictOf(orig).evidence_blob = ToHex(*f.evidence);
    }
  }
  AddLedgerOp(LedgerOp{"verdict:" + orig.id, 0, LedgerOpKind::kVerdict, job.id,
                       job.owner, orig.node, orig.id, orig.attempt, 0, 0, {}, VerdictMemo(f)});
}

}  // namespace plume::scheduler
