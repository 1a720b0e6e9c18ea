// Scheduler core: the queue, placement pass, assignment, requeue with retry backoff, and the
// infeasible-job grace period.
#include <algorithm>
#include <map>
#include <tuple>

#include "core_impl.h"

namespace plume::scheduler {

void Core::Impl::Unlink(Task& t) {
  if (Node* n = FindNode(t.node)) {
    n->tasks.erase(t.id);
    Refree(*n);
  }
}

void Core::Impl::Enqueue(Task& t, int64_t not_before_ms) {
  t.state = TaskState::kQueued;
  t.not_before_ms = not_before_ms;
  queue.insert({s.jobs.at(t.job).seq, t.id});
  placement_may_change = true;
}

void Core::Impl::Dequeue(const Task& t) { queue.erase({s.jobs.at(t.job).seq, t.id}); }

void Core::Impl::Requeue(Task& t, const std::string& why, bool backoff) {
  if (t.audit_role != AuditRole::kNone) return RequeueAudit(t, why, backoff, false);
  if (t.state != TaskState::kAssigned && t.state != TaskState::kQueued) return;
  Job& job = s.jobs.at(t.job);
  if (IsTerminal(job.state)) return;
  if (t.state == TaskState::kAssigned) {
    Unlink(t);
  } else {
    Dequeue(t);
  }
  t.last_error = why;
  Touch(t);
  // Attempts whose results were refused, or that their provider called hopeless, went to
  // providers now excluded from the task; they are bounded apart (RequeueElsewhere,
  // OnNonRetryable) and do not use up the retries of honest failures.
  const auto set_aside = static_cast<uint32_t>(t.excluded.size() + t.nonretryable_from.size());
  if (t.attempt - std::min(set_aside, t.attempt) >= config.max_attempts) {
    t.state = TaskState::kFailed;
    t.finished_at_ms = now;
    FinishJob(job, JobState::kFailed,
              "task " + t.id + " failed after " + std::to_string(t.attempt) +
                  " attempts; last: " + why);
    return;
  }
  // Backoff doubles per failed attempt: base, 2 base, 4 base, ... up to the cap. A node that
  // vanished is not the task's fault, so its tasks go back at once (to replace the worker).
  int64_t delay_ms = 0;
  if (backoff) {
    const uint32_t doublings = std::min<uint32_t>(t.attempt - 1, 30);
    delay_ms = std::min(config.retry_backoff_cap_ms, config.retry_backoff_base_ms << doublings);
  }
  ++t.attempt;
  Enqueue(t, now + delay_ms);
  Warn("task requeued as attempt " + std::to_string(t.attempt) + " in " +
           std::to_string(delay_ms) + " ms: " + why,
       job.id, t.id, t.node);
  t.node.clear();
  CheckRound(job);
}

void Core::Impl::RequeueElsewhere(Task& t, const std::string& why) {
  if (t.audit_role != AuditRole::kNone) return RequeueAudit(t, why, false, true);
  Job& job = s.jobs.at(t.job);
  if (t.state != TaskState::kAssigned || IsTerminal(job.state)) return;
  Unlink(t);
  t.excluded.insert(t.node);
  t.last_error = why;
  Touch(t);
  if (t.excluded.size() >= kRefusedResultsPerTaskMax) {
    t.state = TaskState::kFailed;
    t.finished_at_ms = now;
    FinishJob(job, JobState::kFailed,
              "task " + t.id + ": results of " + std::to_string(t.excluded.size()) +
                  " providers refused; last: " + why);
    return;
  }
  ++t.attempt;
  Enqueue(t, now);  // no backoff: the task is not at fault, and a round waits for it
  Warn("task requeued as attempt " + std::to_string(t.attempt) + " for another provider: " + why,
       job.id, t.id, t.node);
  t.node.clear();
  CheckRound(job);
}

void Core::Impl::OnNonRetryable(Task& t, const std::string& why) {
  if (t.audit_role != AuditRole::kNone) return RequeueElsewhere(t, "failed on agent: " + why);
  Job& job = s.jobs.at(t.job);
  if (t.state != TaskState::kAssigned || IsTerminal(job.state)) return;
  const NodeId reporter = t.node;
  t.nonretryable_from.insert(reporter);
  Touch(t);
  // One provider's word is a claim (it may be the one at fault, or lying to kill the job); two
  // independent providers saying the same is evidence about the task. Machines of one owner are
  // one voice (owners.h): they share the owner's set-up, and the owner's interest. With nobody
  // else who could try it right now, the task waits for one, as any task without an eligible
  // provider does: failing the job on the claim would let whoever grabs a task first on a quiet
  // network kill any job. A training round's timeout still bounds the wait, and the team can
  // cancel.
  const std::set<OwnerId> owners = OwnersOf(t.nonretryable_from, s.nodes);
  if (NonRetryableFailsJob(owners)) {
    Unlink(t);
    t.state = TaskState::kFailed;
    t.finished_at_ms = now;
    t.last_error = why;
    Touch(t);
    FinishJob(job, JobState::kFailed,
              "task " + t.id + " failed and cannot succeed elsewhere (" +
                  std::to_string(t.nonretryable_from.size()) + " providers of " +
                  std::to_string(owners.size()) + " owners say so): " + why);
    return;
  }
  const TaskNeeds needs = NeedsOf(job.spec);
  const Admission rules = admission();
  const bool another = std::any_of(s.nodes.begin(), s.nodes.end(), [&](const auto& kv) {
    return kv.second.state == NodeState::kActive && !Excludes(t, kv.first) &&
           Eligible(needs, kv.second, rules);
  });
  Requeue(t,
          std::string("provider says it cannot succeed (") +
              (t.nonretryable_from.size() > 1 ? "its owner's other provider said so too; " : "") +
              (another ? "another provider will try" : "waiting for another provider") + "): " + why,
          false);
}

int64_t Core::Impl::TaskDeadlineMs(const Task& t) const {
  int64_t allowed_ms = config.task_deadline_max_ms;
  // From the spec's FLOPs and the operator's floor speed, never from the speed the agent claims
  // (F4): a claim of 0 or of a slow device must not buy a task for the maximum.
  if (config.floor_flops_per_s > 0) {
    // Integer arithmetic (128-bit against overflow): the same decision on every machine.
    const unsigned __int128 expected_ms =
        static_cast<unsigned __int128>(t.flops) * 1000 / config.floor_flops_per_s;
    const unsigned __int128 scaled = expected_ms * config.task_deadline_factor;
    if (scaled < static_cast<unsigned __int128>(allowed_ms)) {
      allowed_ms = static_cast<int64_t>(scaled);
    }
  }
  return t.assigned_at_ms + std::max(allowed_ms, config.task_deadline_min_ms);
}

void Core::Impl::CheckTaskDeadlines() {
  for (auto& [id, n] : s.nodes) {
    if (n.tasks.empty()) continue;
    const std::vector<TaskId> assigned(n.tasks.begin(), n.tasks.end());  // Requeue edits it
    for (const TaskId& tid : assigned) {
      Task& t = s.tasks.at(tid);
      const int64_t deadline_ms = TaskDeadlineMs(t);
      if (now < deadline_ms) continue;
      Emit(SendTaskCancel{id, t.id, t.attempt, "task ran past its deadline"});
      Rate(id, Outcome::kFailed);
      Requeue(t,
              "attempt ran past its deadline (" + std::to_string(deadline_ms - t.assigned_at_ms) +
                  " ms) on a node that still heartbeats",
              true);
    }
  }
}

void Core::Impl::Assign(Task& t, Node& n) {
  Dequeue(t);
  t.state = TaskState::kAssigned;
  t.node = n.info.id;
  t.assigned_at_ms = now;
  // The price of this attempt, fixed now (F3): what the node asks, within the job's maximum.
  Job& job = s.jobs.at(t.job);
  t.price_micro_plume_per_pflop =
      std::min(n.info.price_micro_plume_per_pflop, job.spec.max_price_micro_plume_per_pflop);
  t.progress_step = 0;
  t.progress_loss = 0;
  n.tasks.insert(t.id);
  Refree(n);
  Touch(t);
  const bool terminal = IsTerminal(job.state);  // an audit run of a finished job
  if (!terminal &&
      (job.state == JobState::kQueued || !job.reason.empty() || job.infeasible_since_ms != -1)) {
    job.state = JobState::kRunning;
    job.reason.clear();
    job.infeasible_since_ms = -1;
    Touch(job);
  }
  Emit(SendTaskAssign{n.info.id, t.id, t.wire_id, t.attempt, t.job, t.kind, t.round, t.shard,
                      ShardCount(job.spec), t.input_params_blob});
}

// One pass over the queue in submission order. Each task takes the preferred free node that
// fits it (the free index is ordered like Prefer(), so the first fit is the placement Place()
// would choose). A job whose task found no fit is skipped for the rest of the pass: its other
// tasks need the same. Cheap passes (after a message) stop when no node is free; the full pass
// (on a tick) also decides which waiting jobs are infeasible.
void Core::Impl::Schedule(bool full) {
  if (queue.empty() || (!full && (free.empty() || !placement_may_change))) return;
  placement_may_change = false;
  std::set<JobId> blocked;
  // Needs that no free node can meet in this pass (the free set only shrinks during it), so that
  // a long queue of jobs alike (audits of a scarce backend) costs one scan of the free nodes.
  std::set<std::tuple<uint64_t, int, MicroPlume>> no_fit;
  for (auto it = queue.begin(); it != queue.end();) {
    const uint64_t seq = it->first;
    const TaskId id = it->second;
    ++it;  // Assign erases the current entry
    Task& t = s.tasks.at(id);
    Job& job = s.jobs.at(t.job);
    if (t.not_before_ms > now) continue;
    const TaskNeeds needs = NeedsOf(job.spec);
    Node* pick = nullptr;
    bool excluded_only = false;  // a free node fits, but this task may not go there
    const auto needs_key = std::make_tuple(
        needs.memory_bytes, needs.backend ? static_cast<int>(*needs.backend) : -1,
        needs.max_price_micro_plume_per_pflop);
    if (job.escrow_held && !no_fit.contains(needs_key)) {
      // An audit or referee run goes only to a provider of the original's class, and of an owner
      // none of the runs it judges has (owners.h).
      const std::set<OwnerId> judged = OwnersOf(JudgedNodes(t), s.nodes);
      for (const FreeKey& k : free) {
        Node& n = s.nodes.at(k.id);
        if (!CanEverRun(needs, n.info)) continue;
        if (Excludes(t, k.id) || (!t.pinned_node.empty() && k.id != t.pinned_node) ||
            (t.audit_role != AuditRole::kNone && n.info.kernel_class != t.kernel_class) ||
            !IndependentOf(OwnerOf(n.info), judged)) {
          excluded_only = true;
          continue;
        }
        pick = &n;
        break;
      }
    }
    // The job's other tasks have not excluded that node: they may still be placed on it.
    if (pick == nullptr && excluded_only) continue;
    if (pick == nullptr && job.escrow_held) no_fit.insert(needs_key);
    if (pick == nullptr) {
      // The job's other tasks need the same: skip to the next job (the queue is in job order).
      if (job.escrow_held) blocked.insert(job.id);
      if (free.empty() && !full) break;
      it = queue.lower_bound({seq + 1, TaskId{}});
      continue;
    }
    Assign(t, *pick);
  }
  if (full) CheckFeasibility(blocked);
}

void Core::Impl::CheckFeasibility(const std::set<JobId>& waiting) {
  // Jobs mostly share their needs, so each distinct need is checked against the nodes once.
  std::map<std::tuple<uint64_t, int, MicroPlume>, bool> feasible_by_needs;
  const Admission rules = admission();
  for (const JobId& id : waiting) {
    Job& job = s.jobs.at(id);
    if (IsTerminal(job.state)) continue;
    const TaskNeeds needs = NeedsOf(job.spec);
    const auto key = std::make_tuple(needs.memory_bytes,
                                     needs.backend ? static_cast<int>(*needs.backend) : -1,
                                     needs.max_price_micro_plume_per_pflop);
    auto cached = feasible_by_needs.find(key);
    if (cached == feasible_by_needs.end()) {
      const bool any = std::any_of(s.nodes.begin(), s.nodes.end(), [&](const auto& kv) {
        return kv.second.state == NodeState::kActive && Eligible(needs, kv.second, rules);
      });
      cached = feasible_by_needs.emplace(key, any).first;
    }
    const bool feasible = cached->second;
    if (feasible) {
      if (job.infeasible_since_ms != -1 || job.reason != "waiting for a free node") {
        job.infeasible_since_ms = -1;
        job.reason = "waiting for a free node";
        Touch(job);
      }
      continue;
    }
    if (job.infeasible_since_ms == -1) {
      // Name stake and reputation only when they are what keeps fitting nodes out.
      bool under_stake = false, under_reputation = false;
      for (const auto& [nid, n] : s.nodes) {
        if (n.state != NodeState::kActive || !CanEverRun(needs, n.info)) continue;
        under_stake |= !StakeCovers(n, rules);
        under_reputation |= !ReputationAdmits(n, rules);
      }
      job.infeasible_since_ms = now;
      job.reason = "no active node can run it (needs " + std::to_string(needs.memory_bytes) +
                   " bytes per device" +
                   (needs.backend ? std::string(", backend ") + Name(*needs.backend) : "") +
                   ", price <= " + std::to_string(needs.max_price_micro_plume_per_pflop) +
                   " per PFLOP, passed selftest" +
                   (under_stake ? ", stake >= " +
                                      std::to_string(rules.min_stake_per_device_micro_plume) +
                                      " per device"
                                : "") +
                   (under_reputation
                        ? ", reputation >= " + std::to_string(rules.min_reputation_ppm) + " ppm"
                        : "") +
                   ")";
      Touch(job);
      Warn("job infeasible for now: " + job.reason, job.id);
    } else if (now - job.infeasible_since_ms >= config.infeasible_grace_ms) {
      FinishJob(job, JobState::kFailed,
                job.reason + " for " + std::to_string(config.infeasible_grace_ms / 1000) + " s");
    }
  }
}

}  // namespace plume::scheduler
