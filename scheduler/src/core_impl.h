// Private: the scheduler core's state, indexes and handlers. Split over core.cc (dispatch,
// nodes, stake, leases, persistence bookkeeping), core_jobs.cc (jobs, results, cancel),
// core_rounds.cc (DiLoCo rounds), core_schedule.cc (the placement pass and requeue/retry), core_audit.cc (replay audits) and
// core_settle.cc (settles, the challenge window, slashes, the escrow's release).
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "plume/scheduler/core.h"
#include "plume/scheduler/owners.h"
#include "plume/scheduler/placement.h"
#include "plume/scheduler/work.h"
#include "plume/verify/audit.h"

namespace plume::scheduler {

// Free-slot index key, ordered exactly like Prefer() (placement.h PreferKey: price over
// reputation, then reputation, then speed, then id). Only admitted nodes (stake, reputation) are
// in the index. Anything that changes a field of the key, or admission, must Unfree the node
// first and Refree it after.
struct FreeKey {
  MicroPlume price;
  uint32_t reputation_ppm;
  uint64_t flops_per_s;
  NodeId id;
  static FreeKey Of(const Node& n) {
    return {n.info.price_micro_plume_per_pflop, ReputationPpm(n), n.info.flops_per_s, n.info.id};
  }
  bool operator<(const FreeKey& o) const {
    return PreferKey(price, reputation_ppm, flops_per_s, id, o.price, o.reputation_ppm,
                     o.flops_per_s, o.id);
  }
};

// The aggregation request for a round whose workers are all done or dropped.
AggregateRound MakeAggregate(const State& s, const Job& job, const Round& round);
// "<job>/r<round>/w<worker>" for a training worker, "<job>/s<shard>" for an inference shard.
TaskId MakeTaskId(const JobId& job, TaskKind kind, uint32_t round, uint32_t shard);

// Hex digests and audit task suffixes (core_audit.cc).
verify::Digest DigestOfHex(const BlobHash& hex);
const char* Suffix(AuditRole role);

struct Core::Impl {
  Config config;
  State s;

  // Indexes, rebuilt from `s` on load; never persisted.
  std::set<std::pair<uint64_t, TaskId>> queue;  // queued tasks by (job seq, task id)
  std::set<FreeKey> free;                       // active nodes with a free task slot
  std::set<JobId> active_jobs;                  // jobs not yet terminal
  std::map<uint64_t, TaskId> by_wire_id;        // protocol task id -> task
  // Succeeded shards of each unfinished inference job, so a result checks completion in O(1)
  // instead of scanning all of the job's tasks. A succeeded shard never changes state again.
  std::map<JobId, uint32_t> infer_shards_done;
  // Audit and referee tasks not yet terminal ("<job>/..." ids, so a job's are one range).
  std::set<TaskId> open_audits;
  // Committed results waiting out the challenge window (Task::final_at_ms, settle kNone): by due
  // time for the tick, and by id so that a job's are one range (its escrow waits for them).
  std::set<std::pair<int64_t, TaskId>> window_due;
  std::set<TaskId> window_tasks;
  // Set when a pass could place more than the last one did (a task queued, a node freed, an
  // escrow held). A cheap pass with nothing new would decide exactly as the last one did.
  bool placement_may_change = true;

  // Keys changed since the last TakeDirty.
  std::set<NodeId> dirty_nodes;
  std::set<JobId> dirty_jobs;
  std::set<TaskId> dirty_tasks;
  std::set<RoundKey> dirty_rounds;
  std::set<std::string> dirty_ops;
  std::set<TaskId> dirty_verdicts;
  std::set<NodeId> dirty_forgotten;  // registry rows to delete
  std::set<NodeId> dirty_records;    // NodeRecords written or dropped
  int64_t next_forget_check_ms = 0;  // ForgetSilentNodes runs from then on
  std::vector<std::pair<BlobHash, ClientId>> dirty_uploaders;
  std::vector<BlobHash> dirty_uploader_deletes;

  std::vector<Action>* out = nullptr;  // actions of the event being handled
  int64_t now = 0;

  void RebuildIndexes();

  // ---- handlers (one per event type) ----
  void OnAgentRegistered(const AgentRegistered& e);
  void OnHeartbeat(const Heartbeat& e);
  void OnAgentDraining(const AgentDraining& e);
  void OnAgentGone(const AgentGone& e);
  void OnJobSubmitted(const JobSubmitted& e);
  void OnTaskSucceeded(const TaskSucceeded& e);
  void OnTaskRefused(const TaskRefused& e);
  void OnTaskFailed(const TaskFailed& e);
  void OnRoundAggregated(const RoundAggregated& e);
  void OnRoundAggregationFailed(const RoundAggregationFailed& e);
  void OnCancelJob(const CancelJob& e);
  void OnLedgerApplied(const LedgerApplied& e);
  void OnLedgerFailed(const LedgerFailed& e);
  // A kept settle's outcome onto its task (and, applied, into its job's spent).
  void RecordSettle(const LedgerOp& op, SettleState outcome);
  void OnBlobUploaded(const BlobUploaded& e);
  void OnBlobsDeleted(const BlobsDeleted& e);
  void OnStakeChanged(const StakeChanged& e);
  void OnParamsChanged(const ParamsChanged& e);
  void OnTick(const Tick& e);

  // ---- bookkeeping ----
  void Emit(Action a) { out->push_back(std::move(a)); }
  void Info(std::string msg, const JobId& job = {}, const TaskId& task = {},
            const NodeId& node = {});
  void Warn(std::string msg, const JobId& job = {}, const TaskId& task = {},
            const NodeId& node = {});
  void Touch(const Node& n) { dirty_nodes.insert(n.info.id); }
  void Touch(const Job& j) { dirty_jobs.insert(j.id); }
  void Touch(const Task& t) { dirty_tasks.insert(t.id); }
  void Touch(const Round& r) { dirty_rounds.insert({r.job, r.round}); }
  void AddLedgerOp(LedgerOp op);

  // ---- nodes ----
  Admission admission() const {
    return Admission{config.min_stake_per_device_micro_plume, config.min_reputation_ppm};
  }
  Node* FindNode(const NodeId& id);
  void Unfree(const Node& n);
  void Refree(const Node& n);
  void NodeLost(Node& n, NodeState new_state, const std::string& why);
  enum class Outcome : uint8_t { kSucceeded, kFailed, kLost, kRefused };
  void Rate(const NodeId& id, Outcome o);  // counts a finished attempt in the node's record
  void CheckLeases();
  void ReconcileHeld(Node& n, const Heartbeat& e);
  // Forgetting (core_forget.cc). HeardAt: the last register or heartbeat.
  int64_t HeardAt(const Node& n) const;
  bool HasPendingWork(const NodeId& id) const;
  bool Forgettable(const Node& n) const;
  bool Forget(const NodeId& id, const std::string& why);  // false: no room for its record
  void ForgetSilentNodes();
  bool MakeRoomForNode();  // forgets the forgettable node silent for longest
  bool RoomForNode(const NodeId& id);  // false: refused (Rejected emitted), the registry is full
  void RestoreRecord(Node& n);  // a forgotten key registering again

  // ---- jobs, rounds ----
  Job* FindJob(const JobId& id);
  Task* FindTask(const TaskId& id);
  std::vector<Task*> TasksOf(const JobId& job);
  Task& AddTask(const Job& job, TaskKind kind, uint32_t round, uint32_t shard,
                const BlobHash& input);
  void StartRound(Job& job, uint32_t round);
  void CheckRound(Job& job);
  void CheckRoundDeadlines();
  void FinishJob(Job& job, JobState state, std::string reason, bool release_escrow = true);
  void MaybeFinishInfer(Job& job);

  // ---- tasks, placement ----
  void Unlink(Task& t);  // detach from its node, freeing the node's slot
  void Enqueue(Task& t, int64_t not_before_ms);
  void Dequeue(const Task& t);
  // Takes the task off its node and queues it again with attempt + 1; fails the job when the
  // attempts are used up. `backoff` adds the retry delay (for failures, not for lost nodes).
  void Requeue(Task& t, const std::string& why, bool backoff);
  // A refused result: the task goes back to the queue at once, for any provider but the ones
  // whose results were refused.
  void RequeueElsewhere(Task& t, const std::string& why);
  // retryable=false from t.node: a claim. Another provider tries the task; the job fails once
  // providers of two owners have made the claim (owners.h NonRetryableFailsJob).
  void OnNonRetryable(Task& t, const std::string& why);
  // Whether the task may not go to this node (refused there, or the node called it hopeless).
  static bool Excludes(const Task& t, const NodeId& node) {
    return t.excluded.contains(node) || t.nonretryable_from.contains(node);
  }
  int64_t TaskDeadlineMs(const Task& t) const;  // absolute; see limits.h
  void CheckTaskDeadlines();
  void Assign(Task& t, Node& n);
  void Schedule(bool full);
  void CheckFeasibility(const std::set<JobId>& waiting);

  // ---- settlement (core_settle.cc) ----
  // What a committed result of `t` earns at its fixed price (price x FLOPs).
  MicroPlume PayFor(const Task& t, const Job& job);
  void Settle(Task& t, Job& job);  // issues "settle:<task>" for t.paid_micro_plume
  // An unaudited committed result: settled when the challenge window has passed.
  void AwaitWindow(Task& t, Job& job);
  void CheckSettleWindows();
  // The slash of a conviction (verify/slash.h), once per fault: "slash:<faulty run>".
  void Slash(Verdict& v, const Task& faulty, MicroPlume clawback, const Task& orig,
             const Task& audit, const Task* referee);

  // ---- replay audits (core_audit.cc) ----
  // Draws the audit of a just-committed original; true when its settle waits for the verdict.
  bool DrawAudit(Task& t, Node& n);
  void OnAuditRunSucceeded(Task& a, const TaskSucceeded& e);
  void Referee(Task& orig, Task& audit, Task& referee);
  // A third provider re-runs the whole task (or, with none, the dispute is undecided).
  void RefereeInFull(Task& orig, Task& audit);
  // The one conviction path of a decided dispute: the odd run out (none: undecided) is not
  // settled, convicted and slashed; the others are settled. `referee` is null when a malformed
  // chain decided without one.
  void Conclude(Task& orig, Task& audit, Task* referee, verify::Outcome o);
  // Whether an active provider of the class could ever run the job's tasks as a judge of the
  // runs of `judged`: of another owner than all of them (owners.h), and none of `also_not`.
  bool HasPeer(const Job& job, const std::string& kernel_class, const std::set<NodeId>& judged,
               const std::set<NodeId>& also_not = {}) const;
  // The nodes whose runs audit task `a` judges: the original's (an audit), the original's and
  // the audit's (a referee); none for an export, which goes to a disputant by design.
  std::set<NodeId> JudgedNodes(const Task& a) const;
  Task& AddAuditTask(const Task& orig, AuditRole role, const std::set<NodeId>& excluded);
  void RequeueAudit(Task& a, const std::string& why, bool backoff, bool exclude_node);
  void DropAudit(Task& a, const std::string& why);
  void CloseAudit(const Task& orig);
  void Convict(const NodeId& node, const Task& run);
  void CheckAuditWaits();

  // ---- cheap disputes on commitment chains (core_dispute.cc) ----
  // What of a result's commitments a task keeps, bounded: a training chain, or an inference
  // shard's completion hashes (a referee's: one per prompt it regenerated).
  std::vector<std::string> KeptCommitments(const Job& job, const Task& t,
                                           const std::vector<std::string>& c) const;
  // t.commitments (KeptCommitments) and, beside them, the receipt whose root signs them.
  void KeepCommitments(const Job& job, Task& t, const TaskSucceeded& e);
  // On a training audit mismatch: true when the chains decided it or a segment is being
  // recomputed; false: the full referee decides (no chains, equal chains, no third provider).
  bool StartDispute(Task& orig, Task& audit);
  // Queues the export of the state behind link `link` - 1 from the first disputant still here.
  void AskExport(Task& orig, Task& audit, uint32_t link);
  void OnExportSucceeded(Task& orig, Task& x);
  // The export (or the segment replayed from its state) failed: the other disputant's export,
  // then the full referee.
  void ExportFailed(Task& x, const std::string& why);
  void AddSegmentReferee(Task& orig, Task& audit, uint32_t link, const BlobHash& start);
  void JudgeSegment(Task& orig, Task& audit, Task& referee);
  // A segment referee reported that it could not replay from the exported state.
  void SegmentStartFailed(Task& referee, const std::string& why);
  // ---- inference disputes on completion hashes (core_dispute.cc) ----
  // Like StartDispute: the referee regenerates only the prompts whose hashes differ.
  bool StartInferDispute(Task& orig, Task& audit);
  void JudgeCompletions(Task& orig, Task& audit, Task& referee);
  MicroPlume EscrowSpent(const JobId& job);
  // ---- the verification reserve and verdicts in the ledger (core_verdict.cc) ----
  // What the job's drawn audits promised of its reserve (each: its run and a referee).
  MicroPlume VerificationPromised(const JobId& job);
  // Whether the job's reserve still covers an audit of `t` and its referee; if so, promises it
  // (the caller then draws the audit).
  bool PromiseReserve(const Job& job, const Task& t);
  std::map<JobId, MicroPlume> reserve_promised;  // by job; derived, rebuilt after a start
  // "verdict:<orig>" for a concluded audit; "receipt:<run>" for a faulty run nobody paid.
  void RecordVerdict(const Task& orig);
  void RecordFaultyReceipt(const Task& faulty, const Job& job);
  Verdict& VerdictOf(const Task& orig);
  // A finished round's checkpoint entry (ledger/lineage.h), queued in the outbox.
  void RecordCheckpoint(const Job& job, const Round& r);
  void ReleaseIfDone(Job& job);  // the escrow's release, once the job and its audits are over
};

}  // namespace plume::scheduler
