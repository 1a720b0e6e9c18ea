// Scheduler core: jobs (submit, cancel, finish), task results and the ledger outbox. DiLoCo
// rounds are in core_rounds.cc, placement and retries in core_schedule.cc.
#include <algorithm>

#include "core_impl.h"

namespace plume::scheduler {
namespace {

bool IsJobId(const JobId& id) {
  if (id.empty() || id.size() > kJobIdBytesMax) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.';
  });
}

}  // namespace

TaskId MakeTaskId(const JobId& job, TaskKind kind, uint32_t round, uint32_t shard) {
  if (kind == TaskKind::kInferShard) return job + "/s" + std::to_string(shard);
  return job + "/r" + std::to_string(round) + "/w" + std::to_string(shard);
}

Job* Core::Impl::FindJob(const JobId& id) {
  auto it = s.jobs.find(id);
  return it == s.jobs.end() ? nullptr : &it->second;
}

Task* Core::Impl::FindTask(const TaskId& id) {
  auto it = s.tasks.find(id);
  return it == s.tasks.end() ? nullptr : &it->second;
}

std::vector<Task*> Core::Impl::TasksOf(const JobId& job) {
  // Task ids start with "<job>/" and job ids contain no '/', so one range scan finds them.
  const std::string prefix = job + "/";
  std::vector<Task*> out;
  for (auto it = s.tasks.lower_bound(prefix);
       it != s.tasks.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
    out.push_back(&it->second);
  }
  return out;
}

Task& Core::Impl::AddTask(const Job& job, TaskKind kind, uint32_t round, uint32_t shard,
                          const BlobHash& input) {
  const TaskId id = MakeTaskId(job.id, kind, round, shard);
  Task& t = s.tasks[id];
  t = Task{};
  t.id = id;
  t.wire_id = s.next_task_wire_id++;
  by_wire_id[t.wire_id] = id;
  t.job = job.id;
  t.kind = kind;
  t.round = round;
  t.shard = shard;
  t.input_params_blob = input;
  t.flops = TaskFlops(job.spec, shard);
  Enqueue(t, now);
  Touch(t);
  return t;
}

void Core::Impl::OnJobSubmitted(const JobSubmitted& e) {
  if (!IsJobId(e.job)) {
    Emit(Rejected{e.owner, e.job, "job id must be 1..128 characters of [A-Za-z0-9._-]"});
    return;
  }
  if (e.owner.empty()) {
    Emit(Rejected{e.owner, e.job, "job has no owner"});
    return;
  }
  if (s.jobs.contains(e.job)) {
    Emit(Rejected{e.owner, e.job, "job id already used: choose another id"});
    return;
  }
  JobSpec spec = e.spec;
  spec.fee_bps = config.fee_bps;  // the terms are the network's, not the submitter's
  spec.verification_reserve_bps = config.audits ? config.verification_reserve_bps : 0;
  if (Status st = ValidateSpec(spec); !st) {
    Emit(Rejected{e.owner, e.job, "bad job spec: " + st.error().message});
    return;
  }
  spec.escrow_micro_plume = JobHoldMicroPlume(spec);
  Job& job = s.jobs[e.job];
  job.id = e.job;
  job.owner = e.owner;
  job.spec = std::move(spec);
  job.seq = s.next_job_seq++;
  job.submitted_at_ms = now;
  job.reason = "waiting for the escrow hold";
  active_jobs.insert(job.id);
  Touch(job);
  AddLedgerOp(LedgerOp{"hold:" + job.id, 0, LedgerOpKind::kHold, job.id, job.owner, "", "", 0,
                       job.spec.escrow_micro_plume, 0, {}, {}});
  if (job.spec.kind == JobKind::kTrain) {
    job.params_blob = job.spec.initial_params_blob;
    StartRound(job, 0);
  } else {
    job.outputs.assign(job.spec.infer.shards, BlobHash{});
    for (uint32_t shard = 0; shard < job.spec.infer.shards; ++shard) {
      AddTask(job, TaskKind::kInferShard, 0, shard, job.spec.infer.checkpoint_blob);
    }
  }
  Info(std::string("job accepted: ") + Name(job.spec.kind) + ", " +
           std::to_string(ShardCount(job.spec)) + " tasks per round",
       job.id);
}

void Core::Impl::FinishJob(Job& job, JobState state, std::string reason, bool release_escrow) {
  if (IsTerminal(job.state)) return;
  for (Task* t : TasksOf(job.id)) {
    // Audits of results already committed go on: they check work the job paid (or will pay) for.
    if (t->audit_role != AuditRole::kNone) continue;
    if (t->state == TaskState::kQueued) {
      Dequeue(*t);
    } else if (t->state == TaskState::kAssigned) {
      Emit(SendTaskCancel{t->node, t->id, t->attempt, "job " + std::string(Name(state))});
      Unlink(*t);
    } else {
      continue;
    }
    t->state = TaskState::kCancelled;
    t->finished_at_ms = now;
    Touch(*t);
  }
  job.state = state;
  job.reason = std::move(reason);
  job.finished_at_ms = now;
  active_jobs.erase(job.id);
  infer_shards_done.erase(job.id);
  Touch(job);
  (state == JobState::kSucceeded ? Info(std::string("job succeeded"), job.id)
                                 : Warn(std::string("job ") + Name(state) + ": " + job.reason,
                                        job.id));
  Emit(JobFinished{job.id, job.owner, state, job.reason, job.outputs});
  // Open audits may still settle from the escrow: it is released when the last one closes.
  if (release_escrow) ReleaseIfDone(job);
}

void Core::Impl::MaybeFinishInfer(Job& job) {
  auto it = infer_shards_done.find(job.id);
  if (it == infer_shards_done.end() || it->second < job.spec.infer.shards) return;
  FinishJob(job, JobState::kSucceeded, "");
}

void Core::Impl::OnTaskSucceeded(const TaskSucceeded& e) {
  Task* t = FindTask(e.task);
  // Only the current attempt, from the node it was given to, while still outstanding: a late
  // or repeated result is neither counted nor paid again.
  if (t == nullptr || t->state != TaskState::kAssigned || t->attempt != e.attempt ||
      t->node != e.node) {
    Info("stale or duplicate result ignored (attempt " + std::to_string(e.attempt) + ")",
         t ? t->job : "", e.task, e.node);
    return;
  }
  Job& job = s.jobs.at(t->job);
  if (e.output_blob.size() != 64) {
    Rate(e.node, Outcome::kFailed);
    Requeue(*t, "result has no valid blob hash", true);
    Schedule(false);
    return;
  }
  Unlink(*t);
  Rate(e.node, Outcome::kSucceeded);
  // Without a verified ledger receipt nothing is owed for this run, whatever an audit says.
  if (!e.payable) t->settle = SettleState::kUnpaid;
  if (t->audit_role != AuditRole::kNone) {
    OnAuditRunSucceeded(*t, e);
    Schedule(false);
    return;
  }
  t->state = TaskState::kSucceeded;
  t->output_blob = e.output_blob;
  t->metrics = e.metrics;
  t->finished_at_ms = now;
  t->paid_micro_plume = e.payable ? PayFor(*t, job) : 0;
  Touch(*t);
  Touch(job);
  // An audited result is settled once its audit agrees (core_audit.cc), never if proven faulty;
  // an unaudited one when its challenge window has passed (core_settle.cc). The job's spent
  // grows when the ledger applies the settle (OnLedgerApplied), not here.
  // The chain is kept while an audit may need it (core_dispute.cc), and only then.
  KeepCommitments(job, *t, e);
  if (!DrawAudit(*t, *FindNode(e.node))) {
    t->commitments.clear();
    t->receipt.clear();
    t->receipt_signature.clear();
    AwaitWindow(*t, job);
  }
  Info("task succeeded", job.id, t->id, e.node);
  if (job.spec.kind == JobKind::kInfer) {
    job.outputs.at(t->shard) = e.output_blob;
    ++infer_shards_done[job.id];
    MaybeFinishInfer(job);
  } else {
    CheckRound(job);
  }
  Schedule(false);
}

void Core::Impl::OnTaskRefused(const TaskRefused& e) {
  Task* t = FindTask(e.task);
  if (t == nullptr || t->state != TaskState::kAssigned || t->attempt != e.attempt ||
      t->node != e.node) {
    Info("stale refused result ignored", t ? t->job : "", e.task, e.node);
    return;
  }
  // Refused results are not failures of the task: nothing is settled, the provider's record
  // shows the refusal (and its reputation drops), and another provider runs the task.
  Rate(e.node, Outcome::kRefused);
  Warn("result " + e.output_blob.substr(0, 16) + " refused by the screens (" + e.reason +
           "): " + e.message + "; not paid",
       t->job, t->id, e.node);
  RequeueElsewhere(*t, "result refused (" + e.reason + "): " + e.message);
  Schedule(false);
}

void Core::Impl::OnTaskFailed(const TaskFailed& e) {
  Task* t = FindTask(e.task);
  if (t == nullptr || t->state != TaskState::kAssigned || t->attempt != e.attempt ||
      t->node != e.node) {
    Info("stale failure report ignored", t ? t->job : "", e.task, e.node);
    return;
  }
  Rate(e.node, Outcome::kFailed);
  // A segment referee that cannot replay blames the exported state it was given, not the task.
  if (t->kind == TaskKind::kTrainWorker && t->audit_role == AuditRole::kReferee &&
      t->dispute_link > 0) {
    SegmentStartFailed(*t, e.reason);
    Schedule(false);
    return;
  }
  if (!e.retryable) {
    OnNonRetryable(*t, e.reason);
    Schedule(false);
    return;
  }
  Requeue(*t, "failed on agent: " + e.reason, true);
  Schedule(false);
}

void Core::Impl::OnCancelJob(const CancelJob& e) {
  Job* job = FindJob(e.job);
  if (job == nullptr) {
    Emit(Rejected{e.by, e.job, "no such job"});
    return;
  }
  if (job->owner != e.by) {
    Emit(Rejected{e.by, e.job, "only the job's owner may cancel it"});
    return;
  }
  if (IsTerminal(job->state)) {
    Emit(Rejected{e.by, e.job, std::string("job already ") + Name(job->state)});
    return;
  }
  FinishJob(*job, JobState::kCancelled, "cancelled by its owner");
  Schedule(false);
}

void Core::Impl::OnLedgerApplied(const LedgerApplied& e) {
  auto it = s.outbox.find(e.op_id);
  if (it == s.outbox.end()) return;
  if (it->second.kind == LedgerOpKind::kHold) {
    if (Job* job = FindJob(it->second.job); job != nullptr && !job->escrow_held) {
      job->escrow_held = true;
      placement_may_change = true;
      if (!IsTerminal(job->state)) job->reason = "waiting for a free node";
      Touch(*job);
    }
  }
  if (it->second.kind == LedgerOpKind::kSettle) RecordSettle(it->second, SettleState::kApplied);
  s.outbox.erase(it);
  dirty_ops.insert(e.op_id);
  Schedule(false);
}

void Core::Impl::RecordSettle(const LedgerOp& op, SettleState outcome) {
  Task* t = FindTask(op.task);
  if (t == nullptr || t->settle != SettleState::kKept) return;
  t->settle = outcome;
  Touch(*t);
  if (outcome != SettleState::kApplied) return;
  if (Job* job = FindJob(op.job)) {
    job->paid_micro_plume = AddMicroPlume(job->paid_micro_plume, op.amount_micro_plume);
    Touch(*job);
  }
}

void Core::Impl::OnLedgerFailed(const LedgerFailed& e) {
  auto it = s.outbox.find(e.op_id);
  if (it == s.outbox.end()) return;
  const LedgerOp op = it->second;
  s.outbox.erase(it);
  dirty_ops.insert(e.op_id);
  if (op.kind == LedgerOpKind::kHold) {
    if (Job* job = FindJob(op.job)) {
      FinishJob(*job, JobState::kFailed, "escrow hold refused by the ledger: " + e.reason, false);
    }
    return;
  }
  if (op.kind == LedgerOpKind::kSettle) RecordSettle(op, SettleState::kRefused);
  Warn(std::string("ledger refused ") + Name(op.kind) + ": " + e.reason, op.job, op.task,
       op.node);
}

}  // namespace plume::scheduler
