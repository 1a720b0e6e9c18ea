// Scheduler core: event dispatch, agents (registration, stake, heartbeats, leases, drain),
// restart recovery and dirty-row bookkeeping. Jobs are in core_jobs.cc, rounds in
// core_rounds.cc, placement and retries in core_schedule.cc.
#include <algorithm>
#include <type_traits>

#include "core_impl.h"

namespace plume::scheduler {

Core::Core(Config config) : impl_(std::make_unique<Impl>()) { impl_->config = config; }

Core::Core(Config config, State restored) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->s = std::move(restored);
  impl_->now = impl_->s.now_ms;
  impl_->RebuildIndexes();
}

Core::~Core() = default;
Core::Core(Core&&) noexcept = default;
Core& Core::operator=(Core&&) noexcept = default;

const State& Core::state() const { return impl_->s; }
const Config& Core::config() const { return impl_->config; }
size_t Core::open_audits() const { return impl_->open_audits.size(); }

const Task* Core::FindTaskByWireId(uint64_t wire_id) const {
  auto it = impl_->by_wire_id.find(wire_id);
  return it == impl_->by_wire_id.end() ? nullptr : &impl_->s.tasks.at(it->second);
}

std::vector<Action> Core::Handle(int64_t now_ms, const Event& event) {
  Impl& m = *impl_;
  std::vector<Action> actions;
  m.out = &actions;
  // Time never goes backwards inside the core, whatever the caller's clock does.
  m.now = std::max(now_ms, m.s.now_ms);
  m.s.now_ms = m.now;
  std::visit(
      [&m](const auto& e) {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, AgentRegistered>) m.OnAgentRegistered(e);
        else if constexpr (std::is_same_v<E, Heartbeat>) m.OnHeartbeat(e);
        else if constexpr (std::is_same_v<E, AgentDraining>) m.OnAgentDraining(e);
        else if constexpr (std::is_same_v<E, AgentGone>) m.OnAgentGone(e);
        else if constexpr (std::is_same_v<E, JobSubmitted>) m.OnJobSubmitted(e);
        else if constexpr (std::is_same_v<E, TaskSucceeded>) m.OnTaskSucceeded(e);
        else if constexpr (std::is_same_v<E, TaskRefused>) m.OnTaskRefused(e);
        else if constexpr (std::is_same_v<E, TaskFailed>) m.OnTaskFailed(e);
        else if constexpr (std::is_same_v<E, RoundAggregated>) m.OnRoundAggregated(e);
        else if constexpr (std::is_same_v<E, RoundAggregationFailed>) m.OnRoundAggregationFailed(e);
        else if constexpr (std::is_same_v<E, CancelJob>) m.OnCancelJob(e);
        else if constexpr (std::is_same_v<E, LedgerApplied>) m.OnLedgerApplied(e);
        else if constexpr (std::is_same_v<E, LedgerFailed>) m.OnLedgerFailed(e);
        else if constexpr (std::is_same_v<E, BlobUploaded>) m.OnBlobUploaded(e);
        else if constexpr (std::is_same_v<E, BlobsDeleted>) m.OnBlobsDeleted(e);
        else if constexpr (std::is_same_v<E, StakeChanged>) m.OnStakeChanged(e);
        else if constexpr (std::is_same_v<E, ParamsChanged>) m.OnParamsChanged(e);
        else m.OnTick(e);
      },
      event);
  m.out = nullptr;
  return actions;
}

std::vector<Action> Core::Recover(int64_t now_ms) {
  Impl& m = *impl_;
  std::vector<Action> actions;
  m.out = &actions;
  m.now = std::max(now_ms, m.s.now_ms);
  m.s.now_ms = m.now;
  // Agents could not heartbeat while we were down: give each live node a full lease to
  // reconnect before its tasks are taken away.
  for (auto& [id, n] : m.s.nodes) {
    if (n.state != NodeState::kActive && n.state != NodeState::kDraining) continue;
    n.lease_expires_ms = std::max(n.lease_expires_ms, m.now + m.config.lease_ms);
    m.Touch(n);
  }
  // Re-send assignments: the crash may have come between persisting and sending. Agents
  // ignore a (task, attempt) they already hold. Reset the ack clock so the heartbeat check
  // does not requeue a task the agent simply has not seen yet.
  for (auto& [id, t] : m.s.tasks) {
    if (t.state != TaskState::kAssigned) continue;
    t.assigned_at_ms = m.now;
    m.Touch(t);
    const Job& job = m.s.jobs.at(t.job);
    m.Emit(SendTaskAssign{t.node, t.id, t.wire_id, t.attempt, t.job, t.kind, t.round, t.shard,
                          ShardCount(job.spec), t.input_params_blob});
  }
  for (const JobId& jid : m.active_jobs) m.CheckRound(m.s.jobs.at(jid));
  for (auto& [key, r] : m.s.rounds) {
    if (r.state != RoundState::kAggregating) continue;
    Job& job = m.s.jobs.at(r.job);
    if (IsTerminal(job.state)) continue;
    m.Emit(MakeAggregate(m.s, job, r));
  }
  std::vector<const LedgerOp*> ops;
  for (const auto& [id, op] : m.s.outbox) ops.push_back(&op);
  std::sort(ops.begin(), ops.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
  for (const LedgerOp* op : ops) m.Emit(LedgerRequest{*op});
  m.Info("recovered: " + std::to_string(m.s.jobs.size()) + " jobs, " +
         std::to_string(m.queue.size()) + " queued tasks, " + std::to_string(ops.size()) +
         " pending ledger requests");
  m.Schedule(true);
  m.out = nullptr;
  return actions;
}

Dirty Core::TakeDirty() {
  Impl& m = *impl_;
  Dirty d;
  for (const NodeId& id : m.dirty_nodes) d.nodes.push_back(m.s.nodes.at(id));
  d.forgotten_nodes.assign(m.dirty_forgotten.begin(), m.dirty_forgotten.end());
  for (const NodeId& id : m.dirty_records) {
    auto it = m.s.records.find(id);
    d.records.emplace_back(id, it == m.s.records.end() ? std::nullopt
                                                       : std::optional<NodeRecord>(it->second));
  }
  for (const JobId& id : m.dirty_jobs) d.jobs.push_back(m.s.jobs.at(id));
  for (const TaskId& id : m.dirty_tasks) d.tasks.push_back(m.s.tasks.at(id));
  for (const RoundKey& k : m.dirty_rounds) d.rounds.push_back(m.s.rounds.at(k));
  for (const std::string& id : m.dirty_ops) {
    auto it = m.s.outbox.find(id);
    if (it == m.s.outbox.end()) d.outbox_deletes.push_back(id);
    else d.outbox_upserts.push_back(it->second);
  }
  for (const TaskId& id : m.dirty_verdicts) d.verdicts.push_back(m.s.verdicts.at(id));
  m.dirty_verdicts.clear();
  d.blob_uploaders = std::move(m.dirty_uploaders);
  m.dirty_uploaders.clear();
  d.blob_uploader_deletes = std::move(m.dirty_uploader_deletes);
  m.dirty_uploader_deletes.clear();
  d.next_job_seq = m.s.next_job_seq;
  d.next_op_seq = m.s.next_op_seq;
  d.next_task_wire_id = m.s.next_task_wire_id;
  d.now_ms = m.s.now_ms;
  m.dirty_nodes.clear();
  m.dirty_forgotten.clear();
  m.dirty_records.clear();
  m.dirty_jobs.clear();
  m.dirty_tasks.clear();
  m.dirty_rounds.clear();
  m.dirty_ops.clear();
  return d;
}

void Core::Impl::OnBlobUploaded(const BlobUploaded& e) {
  if (s.blob_uploaders[e.blob].insert(e.uploader).second) {
    dirty_uploaders.emplace_back(e.blob, e.uploader);
  }
}

void Core::Impl::OnBlobsDeleted(const BlobsDeleted& e) {
  for (const BlobHash& b : e.blobs) {
    if (s.blob_uploaders.erase(b) == 0) continue;
    // The store applies deletes before inserts: an insert of this turn must not outlive them.
    std::erase_if(dirty_uploaders, [&b](const auto& row) { return row.first == b; });
    dirty_uploader_deletes.push_back(b);
  }
}

void Core::Impl::RebuildIndexes() {
  queue.clear();
  free.clear();
  active_jobs.clear();
  for (auto& [id, n] : s.nodes) n.tasks.clear();
  for (const auto& [id, j] : s.jobs) {
    if (!IsTerminal(j.state)) active_jobs.insert(id);
  }
  by_wire_id.clear();
  infer_shards_done.clear();
  open_audits.clear();
  window_due.clear();
  window_tasks.clear();
  for (const auto& [id, t] : s.tasks) {
    by_wire_id[t.wire_id] = id;
    if (t.audit_role != AuditRole::kNone && !IsTerminal(t.state)) open_audits.insert(id);
    // Still in its challenge window (or past it while the scheduler was down: due at the next
    // tick): final_at_ms is persisted, the settle request is not yet made.
    if (t.state == TaskState::kSucceeded && t.final_at_ms > 0 && t.settle == SettleState::kNone &&
        !t.settle_deferred) {
      window_due.insert({t.final_at_ms, id});
      window_tasks.insert(id);
    }
    if (t.kind == TaskKind::kInferShard && t.state == TaskState::kSucceeded &&
        t.audit_role == AuditRole::kNone && active_jobs.contains(t.job)) {
      ++infer_shards_done[t.job];
    }
    if (t.state == TaskState::kQueued) queue.insert({s.jobs.at(t.job).seq, id});
    if (t.state == TaskState::kAssigned) s.nodes.at(t.node).tasks.insert(id);
  }
  for (const auto& [id, n] : s.nodes) Refree(n);
}

void Core::Impl::Info(std::string msg, const JobId& job, const TaskId& task, const NodeId& node) {
  Emit(Log{LogLevel::kInfo, std::move(msg), job, task, node});
}

void Core::Impl::Warn(std::string msg, const JobId& job, const TaskId& task, const NodeId& node) {
  Emit(Log{LogLevel::kWarn, std::move(msg), job, task, node});
}

void Core::Impl::AddLedgerOp(LedgerOp op) {
  op.seq = s.next_op_seq++;
  dirty_ops.insert(op.id);
  Emit(LedgerRequest{op});
  s.outbox[op.id] = std::move(op);
}

// ---- nodes ---------------------------------------------------------------------------------

Node* Core::Impl::FindNode(const NodeId& id) {
  auto it = s.nodes.find(id);
  return it == s.nodes.end() ? nullptr : &it->second;
}

void Core::Impl::Unfree(const Node& n) { free.erase(FreeKey::Of(n)); }

void Core::Impl::Rate(const NodeId& id, Outcome o) {
  Node* n = FindNode(id);
  if (n == nullptr) return;
  Unfree(*n);  // the reputation is part of the index key
  if (o == Outcome::kRefused) n->consecutive_valid = 0;  // verify::Apply(kRefused)
  ++(o == Outcome::kSucceeded ? n->tasks_succeeded
     : o == Outcome::kFailed  ? n->tasks_failed
     : o == Outcome::kRefused ? n->tasks_refused
                              : n->tasks_lost);
  Refree(*n);
  Touch(*n);
}

void Core::Impl::Refree(const Node& n) {
  const FreeKey key = FreeKey::Of(n);
  // Only nodes that may be given work now: the placement pass takes the first that fits.
  if (n.state == NodeState::kActive && n.info.selftest_passed && n.tasks.size() < kTasksPerNodeMax &&
      Admitted(n, admission())) {
    if (free.insert(key).second) placement_may_change = true;
  } else {
    free.erase(key);
  }
}

void Core::Impl::OnAgentRegistered(const AgentRegistered& e) {
  const NodeId& id = e.info.id;
  if (id.empty()) {
    Emit(Rejected{id, "", "registration without a node id"});
    return;
  }
  if (e.info.price_micro_plume_per_pflop <= 0) {
    // A free (or paying) bid would win every placement, and the node could then re-register at
    // the job's maximum (F3). Refused whole: a known node keeps its record and its last price.
    const std::string why = "price " + std::to_string(e.info.price_micro_plume_per_pflop) +
                            " refused: a price must be > 0 micro-PLUME per PFLOP";
    Warn("agent registration " + why, "", "", id);
    Emit(Rejected{id, "", why});
    return;
  }
  Node* n = FindNode(id);
  if (n == nullptr) {
    if (!RoomForNode(id)) return;
    n = &s.nodes[id];
    n->info.id = id;
    n->registered_at_ms = now;
    RestoreRecord(*n);  // a key that was forgotten keeps its record
  } else {
    Unfree(*n);  // the price or speed may change, and with it the index key
  }
  // A node that re-registers keeps its assigned tasks: after a scheduler restart or a short
  // disconnect the agent is still running them, and its heartbeats will say so. Their prices were
  // fixed when they were assigned (Task::price_micro_plume_per_pflop): a new price counts for new
  // assignments only.
  n->info = e.info;
  n->state = NodeState::kActive;
  n->lease_expires_ms = now + config.lease_ms;
  Refree(*n);
  Touch(*n);
  Info(std::string("agent registered: ") + Name(e.info.backend) +
           (e.info.selftest_passed ? "" : " (selftest failed: will not be given work)"),
       "", "", id);
  Schedule(false);
}

void Core::Impl::OnParamsChanged(const ParamsChanged& e) {
  // The minimum stake is part of admission, which the free-node index is keyed on.
  for (const auto& [id, n] : s.nodes) Unfree(n);
  config.fee_bps = e.fee_bps;
  config.audit.p_min_ppm = e.audit_p_min_ppm;
  config.min_stake_per_device_micro_plume = std::max<MicroPlume>(e.min_stake_per_device, 0);
  config.slash_bps = e.slash_bps;
  config.finder_fee_bps = e.finder_fee_bps;
  config.challenge_window_ms = e.challenge_window_ms;
  for (const auto& [id, n] : s.nodes) Refree(n);
  Info("network parameters changed by governance: fee " + std::to_string(e.fee_bps) +
       " bps, audit floor " + std::to_string(e.audit_p_min_ppm) + " ppm");
}

void Core::Impl::OnStakeChanged(const StakeChanged& e) {
  Node* n = FindNode(e.node);
  if (n == nullptr) {
    Info("stake of an unregistered agent ignored", "", "", e.node);
    return;
  }
  if (n->stake_micro_plume == e.staked && n->unbonding_micro_plume == e.unbonding) return;
  Unfree(*n);  // admission may change with it
  const bool was_covered = StakeCovers(*n, admission());
  n->stake_micro_plume = std::max<MicroPlume>(e.staked, 0);
  n->unbonding_micro_plume = std::max<MicroPlume>(e.unbonding, 0);
  Refree(*n);
  Touch(*n);
  if (was_covered != StakeCovers(*n, admission())) {
    Info(std::string("stake ") + std::to_string(n->stake_micro_plume) +
             (was_covered ? ": under the minimum, no new work" : ": covers the minimum"),
         "", "", e.node);
  }
  placement_may_change = true;
  Schedule(false);
}

void Core::Impl::OnHeartbeat(const Heartbeat& e) {
  Node* n = FindNode(e.node);
  if (n == nullptr || n->state == NodeState::kGone) {
    Emit(Rejected{e.node, "", "unknown agent: register first"});
    return;
  }
  if (n->state == NodeState::kLost) {
    // Its tasks were requeued when the lease ran out; the node itself may work again.
    n->state = NodeState::kActive;
    Info("lost agent is back", "", "", e.node);
  }
  n->lease_expires_ms = now + config.lease_ms;
  Touch(*n);
  ReconcileHeld(*n, e);
  Refree(*n);
  Schedule(false);
}

void Core::Impl::ReconcileHeld(Node& n, const Heartbeat& e) {
  std::set<TaskId> held;
  for (const TaskProgress& p : e.held) {
    held.insert(p.task);
    Task* t = FindTask(p.task);
    const bool ours = t != nullptr && t->node == n.info.id && t->attempt == p.attempt &&
                      (t->state == TaskState::kAssigned || t->state == TaskState::kSucceeded);
    if (!ours) {
      // A requeued or cancelled attempt still running there: stop wasting the agent's time.
      Emit(SendTaskCancel{n.info.id, p.task, p.attempt, "task is no longer assigned to you"});
      continue;
    }
    t->progress_step = p.step;
    t->progress_loss = p.loss;
  }
  // Copy: Requeue edits n.tasks.
  const std::vector<TaskId> assigned(n.tasks.begin(), n.tasks.end());
  for (const TaskId& id : assigned) {
    Task& t = s.tasks.at(id);
    if (held.contains(id) || now - t.assigned_at_ms < config.assign_ack_grace_ms) continue;
    Requeue(t, "agent does not hold the task (assignment lost or agent restarted)", false);
  }
}

void Core::Impl::OnAgentDraining(const AgentDraining& e) {
  Node* n = FindNode(e.node);
  if (n == nullptr || n->state == NodeState::kGone) return;
  n->state = NodeState::kDraining;
  Refree(*n);
  Touch(*n);
  Info("agent draining: no new tasks, running ones finish", "", "", e.node);
}

void Core::Impl::OnAgentGone(const AgentGone& e) {
  Node* n = FindNode(e.node);
  if (n == nullptr || n->state == NodeState::kGone) return;
  NodeLost(*n, NodeState::kGone, "agent deregistered");
  Schedule(false);
}

void Core::Impl::NodeLost(Node& n, NodeState new_state, const std::string& why) {
  n.state = new_state;
  Refree(n);
  Touch(n);
  Warn("agent " + std::string(Name(new_state)) + ": " + why, "", "", n.info.id);
  const std::vector<TaskId> assigned(n.tasks.begin(), n.tasks.end());
  if (new_state == NodeState::kLost) n.tasks_lost += assigned.size();  // not free: no re-index
  for (const TaskId& id : assigned) Requeue(s.tasks.at(id), "agent " + why, false);
}

void Core::Impl::CheckLeases() {
  for (auto& [id, n] : s.nodes) {
    if (n.state != NodeState::kActive && n.state != NodeState::kDraining) continue;
    if (n.lease_expires_ms > now) continue;
    NodeLost(n, NodeState::kLost, "missed its lease");
  }
}

void Core::Impl::OnTick(const Tick&) {
  CheckLeases();
  ForgetSilentNodes();
  CheckTaskDeadlines();
  CheckRoundDeadlines();
  CheckAuditWaits();
  CheckSettleWindows();
  Schedule(true);
}

}  // namespace plume::scheduler
