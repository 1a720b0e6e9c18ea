// Scheduler core: settlement of committed results and replay audits (verify/audit.h).
//
// After a result is committed (screened, receipt received), a seeded draw at the provider's
// adaptive rate decides whether another provider of the same kernel class re-runs the task. The
// audit run is an ordinary task to the agent that gets it. Equal output hashes: both runs are
// settled. Different: a third provider of the class (the referee) runs it, and the odd one out
// is proven faulty: its run is never settled, a Verdict with the evidence is kept, and its
// provider's stake is slashed (core_settle.cc). An audited result's settle waits for the verdict;
// an unaudited one for the challenge window (core_settle.cc).
#include <algorithm>

#include "core_impl.h"
#include "plume/kernels/kernel_class.h"
#include "plume/verify/dispute.h"

namespace plume::scheduler {
verify::ProviderRecord AuditRecordOf(const Node& n) {
  return verify::ProviderRecord{n.consecutive_valid, n.results_valid,
                                static_cast<int64_t>(n.tasks_refused), n.results_audited,
                                n.proven_faulty};
}

AuditTotals CountAudits(const State& s) {
  AuditTotals a;
  for (const auto& [id, n] : s.nodes) {
    a.audited += static_cast<uint64_t>(n.results_audited);
    a.proven_faulty += static_cast<uint64_t>(n.proven_faulty);
    a.no_peer += static_cast<uint64_t>(n.unaudited_no_peer);
  }
  for (const auto& [id, t] : s.tasks) {
    a.matched += t.audit == AuditStatus::kMatched;
    a.disputes += t.audit_role == AuditRole::kReferee;
    if (t.audit_role == AuditRole::kReferee && t.state == TaskState::kSucceeded) {
      a.recomputed_flops += t.flops;
    }
  }
  for (const auto& [id, v] : s.verdicts) {
    a.segment_disputes +=
        v.policy == verify::kDisputePolicy && v.outcome != AuditStatus::kDisputed;
  }
  a.mismatched = s.verdicts.size();
  return a;
}

namespace {

verify::ProviderRecord RecordOf(const Node& n) { return AuditRecordOf(n); }

void ApplyRecord(Node& n, verify::Event event) {
  const verify::ProviderRecord r = verify::Apply(RecordOf(n), event);
  n.consecutive_valid = r.consecutive_valid;
  n.results_valid = r.valid;
  n.results_audited = r.audited;
  n.proven_faulty = r.proven_faulty;
}

// Only a class that promises bit-exact replay (kernel_class.h) may convict on a hash mismatch.
bool IsExactClass(const std::string& kernel_class) {
  auto c = kernels::ParseKernelClass(kernel_class);
  return c.has_value() && kernels::IsBitExactClass(*c);
}

}  // namespace

verify::Digest DigestOfHex(const BlobHash& hex) {
  verify::Digest d{};
  auto nibble = [](char c) -> uint8_t {
    if (c >= '0' && c <= '9') return static_cast<uint8_t>(c - '0');
    if (c >= 'a' && c <= 'f') return static_cast<uint8_t>(c - 'a' + 10);
    if (c >= 'A' && c <= 'F') return static_cast<uint8_t>(c - 'A' + 10);
    return 0;
  };
  for (size_t i = 0; i < d.size() && 2 * i + 1 < hex.size(); ++i) {
    d[i] = static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
  }
  return d;
}

const char* Suffix(AuditRole role) {
  return role == AuditRole::kAudit ? "/audit" : role == AuditRole::kExport ? "/export" : "/referee";
}

bool Core::Impl::DrawAudit(Task& t, Node& n) {
  if (!config.audits) return false;
  const uint32_t rate = verify::AuditRatePpm(RecordOf(n), config.audit);
  t.audit_rate_ppm = rate;
  // A committed result extends the run at once, so the i-th result of a provider is drawn at
  // the rate of its i-th place in the run whatever audits are still open: the path the
  // analytic detection curve assumes. A later conviction resets the run (and takes it back).
  ApplyRecord(n, verify::Event::kValid);
  Touch(n);
  Touch(t);
  if (!verify::ShouldAudit(config.audit_seed, t.id + "#" + std::to_string(t.attempt), rate)) {
    return false;
  }
  if (!IsExactClass(n.info.kernel_class) ||
      !HasPeer(s.jobs.at(t.job), n.info.kernel_class, {n.info.id})) {
    // Never compared across classes, nor judged by the same owner: an unaudited result is
    // counted, not guessed at.
    t.audit = AuditStatus::kNoPeer;
    ++n.unaudited_no_peer;
    Info("drawn for an audit, but no provider of class " + n.info.kernel_class +
             " of another owner: unaudited",
         t.job, t.id, n.info.id);
    return false;
  }
  if (!PromiseReserve(s.jobs.at(t.job), t)) {
    // Drawn, but the job's verification reserve could not pay the audit and a referee: an
    // audit run is never started that might work for nothing (core_verdict.cc).
    t.audit = AuditStatus::kNoReserve;
    Info("drawn for an audit, but the job's verification reserve is promised: unaudited", t.job,
         t.id, n.info.id);
    return false;
  }
  ApplyRecord(n, verify::Event::kAudited);
  t.audit = AuditStatus::kPending;
  t.settle_deferred = true;
  AddAuditTask(t, AuditRole::kAudit, {n.info.id});
  return true;
}

Task& Core::Impl::AddAuditTask(const Task& orig, AuditRole role, const std::set<NodeId>& excluded) {
  const TaskId id = orig.id + Suffix(role);
  Task& a = s.tasks[id];
  // A segment referee that could not decide gives its id to the full referee after it.
  if (a.wire_id != 0) by_wire_id.erase(a.wire_id);
  a = Task{};
  a.id = id;
  a.wire_id = s.next_task_wire_id++;
  by_wire_id[a.wire_id] = id;
  a.job = orig.job;
  a.kind = orig.kind;
  a.round = orig.round;
  a.shard = orig.shard;
  a.input_params_blob = orig.input_params_blob;
  a.flops = orig.flops;
  a.audit_role = role;
  a.audit_of = orig.id;
  // The original's provider is registered: a node with a result under audit is never forgotten
  // (core_forget.cc HasPendingWork); the task's own class is the fallback all the same.
  const Node* provider = FindNode(orig.node);
  a.kernel_class = provider != nullptr ? provider->info.kernel_class : orig.kernel_class;
  a.excluded = excluded;
  open_audits.insert(id);
  Enqueue(a, now);
  Touch(a);
  Info(std::string(Name(role)) + " run queued for class " + a.kernel_class, a.job, a.id);
  return a;
}

Verdict& Core::Impl::VerdictOf(const Task& orig) {
  dirty_verdicts.insert(orig.id);
  return s.verdicts[orig.id];
}

void Core::Impl::OnAuditRunSucceeded(Task& a, const TaskSucceeded& e) {
  Job& job = s.jobs.at(a.job);
  Task& orig = s.tasks.at(a.audit_of);
  a.state = TaskState::kSucceeded;
  a.output_blob = e.output_blob;
  a.metrics = e.metrics;
  a.finished_at_ms = now;
  open_audits.erase(a.id);
  Touch(a);
  if (a.audit_role == AuditRole::kExport) return OnExportSucceeded(orig, a);
  KeepCommitments(job, a, e);
  a.paid_micro_plume = PayFor(a, job);
  a.settle_deferred = true;
  Task& audit = s.tasks.at(orig.id + Suffix(AuditRole::kAudit));
  if (a.audit_role == AuditRole::kReferee) {
    a.dispute_link >= 0 ? JudgeSegment(orig, audit, a) : Referee(orig, audit, a);
    return;
  }
  if (a.output_blob == orig.output_blob) {
    orig.audit = AuditStatus::kMatched;
    Info("audit matched: the result stands", job.id, orig.id, orig.node);
    Settle(orig, job);
    Settle(a, job);
    CloseAudit(orig);
    return;
  }
  Verdict& v = VerdictOf(orig);
  v = Verdict{orig.id,
              job.id,
              verify::kAuditPolicy,
              a.kernel_class,
              AuditStatus::kDisputed,
              orig.node,
              a.node,
              "",
              orig.attempt,
              orig.output_blob,
              a.output_blob,
              "",
              "",
              false,
              now};
  Warn("audit mismatch: " + orig.output_blob.substr(0, 16) + " (" + orig.node.substr(0, 16) +
           ") != " + a.output_blob.substr(0, 16) + " (" + a.node.substr(0, 16) +
           "): a referee decides",
       job.id, orig.id, orig.node);
  orig.audit = AuditStatus::kDisputed;
  Touch(orig);
  // Commitment chains narrow the referee's work to one segment, or decide on their own.
  if (StartDispute(orig, a)) return;
  RefereeInFull(orig, a);
}

void Core::Impl::RefereeInFull(Task& orig, Task& audit) {
  Job& job = s.jobs.at(orig.job);
  // Also where a dispute on chains could not go on: the verdict is then the full re-run's.
  Verdict& v = VerdictOf(orig);
  v.policy = verify::kAuditPolicy;
  v.dispute_link = -1;
  v.recomputed_fraction = 1;
  const std::set<NodeId> both{orig.node, audit.node};
  if (HasPeer(job, audit.kernel_class, both)) {
    AddAuditTask(orig, AuditRole::kReferee, both);
    return;
  }
  orig.audit = AuditStatus::kUndecided;
  v.outcome = AuditStatus::kUndecided;
  Touch(orig);
  Warn("no third provider of the class to referee: undecided, nobody convicted", job.id, orig.id);
  Settle(orig, job);
  Settle(audit, job);
  CloseAudit(orig);
}

void Core::Impl::Referee(Task& orig, Task& audit, Task& referee) {
  const verify::Outcome o =
      verify::Decide(DigestOfHex(orig.output_blob), DigestOfHex(audit.output_blob),
                     DigestOfHex(referee.output_blob));
  Verdict& v = VerdictOf(orig);
  v.referee_node = referee.node;
  v.referee_output = referee.output_blob;
  Conclude(orig, audit, &referee, o);
}

void Core::Impl::Conclude(Task& orig, Task& audit, Task* referee, verify::Outcome o) {
  Job& job = s.jobs.at(orig.job);
  Verdict& v = VerdictOf(orig);
  v.decided_at_ms = now;
  Task* faulty = o == verify::Outcome::kOriginalFaulty  ? &orig
                 : o == verify::Outcome::kAuditorFaulty ? &audit
                                                        : nullptr;
  v.outcome = faulty == &orig    ? AuditStatus::kOriginalFaulty
              : faulty == &audit ? AuditStatus::kAuditorFaulty
                                 : AuditStatus::kUndecided;
  orig.audit = v.outcome;
  Touch(orig);
  for (Task* run : {&orig, &audit, referee}) {
    if (run != nullptr && run != faulty) Settle(*run, job);
  }
  if (faulty != nullptr) {
    // An audited run is settled only after this; one that was (a settle kept or applied) is
    // clawed back by the slash.
    const bool paid =
        faulty->settle == SettleState::kKept || faulty->settle == SettleState::kApplied;
    const MicroPlume clawback = paid ? faulty->paid_micro_plume : 0;
    // Unpaid, its receipt would reach the ledger only in a slash (none without stake): recorded
    // for the verdict (core_verdict.cc).
    if (!paid && faulty->settle != SettleState::kUnpaid) RecordFaultyReceipt(*faulty, job);
    v.faulty = faulty->node;
    v.faulty_paid = !faulty->settle_deferred || paid;
    faulty->settle_deferred = false;
    if (!paid) {  // never settled: nothing is owed, and nothing is pending any more
      faulty->paid_micro_plume = 0;
      faulty->settle = SettleState::kUnpaid;
    }
    Touch(*faulty);
    Convict(faulty->node, *faulty);
    Slash(v, *faulty, clawback, orig, audit, referee);
    // An inference job still running takes the output two providers agreed on.
    if (faulty == &orig && job.spec.kind == JobKind::kInfer && !IsTerminal(job.state)) {
      job.outputs.at(orig.shard) = audit.output_blob;
      Touch(job);
    }
  }
  // The share of the task recomputed to decide, per dispute (docs/verification.md).
  const std::string how =
      v.policy != verify::kDisputePolicy
          ? std::string("referee: ") + verify::Name(o)
          : std::string("dispute: ") + verify::Name(o) +
                (job.spec.kind == JobKind::kInfer ? " at prompt " : " at link ") +
                std::to_string(v.dispute_link) + ", recomputed " +
                std::to_string(v.recomputed_fraction) + " of the task";
  Warn(how + (faulty ? "; proven faulty: " + faulty->node + ", not paid" : std::string()),
       job.id, orig.id, faulty ? faulty->node : NodeId{});
  CloseAudit(orig);
}

void Core::Impl::Convict(const NodeId& node, const Task& run) {
  Node* n = FindNode(node);
  if (n == nullptr) return;
  // An original was counted valid when committed (DrawAudit); an audit run never was.
  if (run.audit_role == AuditRole::kNone)
    n->results_valid = std::max<int64_t>(0, n->results_valid - 1);
  ApplyRecord(*n, verify::Event::kProvenFaulty);
  // The run was rated a success when its result came in; proven wrong, it is a failure, and
  // reputation (placement.h) weighs it as one.
  Unfree(*n);
  if (n->tasks_succeeded > 0) --n->tasks_succeeded;
  ++n->tasks_failed;
  Refree(*n);
  Touch(*n);
}

void Core::Impl::CloseAudit(const Task& orig) {
  Job& job = s.jobs.at(orig.job);
  RecordVerdict(orig);  // before the release, in the outbox's order
  ReleaseIfDone(job);
}

void Core::Impl::RequeueAudit(Task& a, const std::string& why, bool backoff, bool exclude_node) {
  // An export can run only where the state is kept: it moves to the other disputant, not along.
  if (a.audit_role == AuditRole::kExport) return ExportFailed(a, why);
  if (a.state == TaskState::kAssigned) {
    Unlink(a);
    if (exclude_node) a.excluded.insert(a.node);
  } else if (a.state == TaskState::kQueued) {
    Dequeue(a);
  } else {
    return;
  }
  a.last_error = why;
  Touch(a);
  if (a.attempt >= config.max_attempts + kRefusedResultsPerTaskMax ||
      a.excluded.size() >= kRefusedResultsPerTaskMax) {
    DropAudit(a, "gave up after " + std::to_string(a.attempt) + " attempts; last: " + why);
    return;
  }
  // The one peer of the class had its run refused: waiting for another would hold the result's
  // settle for nothing, so it stands unaudited as if none had been there.
  if (exclude_node && !HasPeer(s.jobs.at(a.job), a.kernel_class, JudgedNodes(a), a.excluded)) {
    DropAudit(a, "no other provider of the class after a refused run; last: " + why);
    return;
  }
  const int64_t delay_ms = backoff ? config.retry_backoff_base_ms : 0;
  ++a.attempt;
  Enqueue(a, now + delay_ms);
  a.node.clear();
}

void Core::Impl::DropAudit(Task& a, const std::string& why) {
  if (a.audit_role == AuditRole::kExport) return ExportFailed(a, why);
  if (a.state == TaskState::kQueued) Dequeue(a);
  if (a.state == TaskState::kAssigned) Unlink(a);
  a.state = TaskState::kDropped;
  a.finished_at_ms = now;
  a.last_error = why;
  a.node.clear();
  open_audits.erase(a.id);
  Touch(a);
  Task& orig = s.tasks.at(a.audit_of);
  Job& job = s.jobs.at(orig.job);
  Warn(std::string(Name(a.audit_role)) + " run dropped: " + why, job.id, a.id);
  if (a.audit_role == AuditRole::kAudit) {
    orig.audit = AuditStatus::kNoPeer;
    if (Node* n = FindNode(orig.node)) {
      ++n->unaudited_no_peer;
      Touch(*n);
    }
    Settle(orig, job);
  } else {
    orig.audit = AuditStatus::kUndecided;
    VerdictOf(orig).outcome = AuditStatus::kUndecided;
    Settle(orig, job);
    Settle(s.tasks.at(orig.id + Suffix(AuditRole::kAudit)), job);
  }
  Touch(orig);
  CloseAudit(orig);
}

void Core::Impl::CheckAuditWaits() {
  std::vector<Task*> stale;
  for (const TaskId& id : open_audits) {
    Task& a = s.tasks.at(id);
    if (a.state == TaskState::kQueued && now - a.not_before_ms >= config.audit_wait_ms) {
      stale.push_back(&a);
    }
  }
  for (Task* a : stale) {
    DropAudit(*a, "no provider of class " + a->kernel_class + " took it in " +
                      std::to_string(config.audit_wait_ms / 1000) + " s");
  }
}

}  // namespace plume::scheduler
