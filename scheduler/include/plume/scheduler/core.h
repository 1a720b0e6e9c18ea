// The scheduler's core: a pure state machine. Events in, actions out; time only from the
// now_ms the caller passes in, no I/O, no threads. The same code runs in plume-scheduler (a
// ZeroMQ reactor around it) and in the deterministic simulation tests.
//
// Contract for the shell, once per loop turn:
//   1. actions = core.Handle(now_ms, event) for each event received this turn;
//   2. store.Save(core.TakeDirty()) — the state is durable BEFORE anything is acted on;
//   3. carry out the actions (send, aggregate, ledger).
// After a restart: Core core(config, store.Load()); then act on core.Recover(now_ms).
// Not thread-safe: one thread owns a Core.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "plume/scheduler/events.h"
#include "plume/scheduler/limits.h"
#include "plume/scheduler/types.h"
#include "plume/verify/audit.h"

namespace plume::scheduler {

struct Config {
  int64_t lease_ms = kLeaseMsDefault;
  int64_t assign_ack_grace_ms = kAssignAckGraceMsDefault;
  int64_t retry_backoff_base_ms = kRetryBackoffBaseMsDefault;
  int64_t retry_backoff_cap_ms = kRetryBackoffCapMsDefault;
  uint32_t max_attempts = kMaxAttemptsDefault;
  int64_t infeasible_grace_ms = kInfeasibleGraceMsDefault;
  uint32_t task_deadline_factor = kTaskDeadlineFactorDefault;  // see limits.h
  int64_t task_deadline_min_ms = kTaskDeadlineMinMsDefault;
  int64_t task_deadline_max_ms = kTaskDeadlineMaxMsDefault;
  uint64_t floor_flops_per_s = kFloorFlopsPerSDefault;  // deadlines: FLOPs / this x factor
  uint32_t fee_bps = kFeeBpsDefault;  // network fee on each settle; stamped on each new job
  // Replay audits (verify/audit.h): the adaptive rate's parameters, and the secret seed of the
  // audit draws (one per data dir, revealed after the fact: docs/verification.md).
  bool audits = true;  // off: every committed result is settled at once and never re-run
  verify::AuditParams audit;
  verify::Digest audit_seed{};
  int64_t audit_wait_ms = kAuditWaitMsDefault;
  // Stake and slashing (docs/payments.md; limits.h for the defaults). Placement needs free stake
  // >= min_stake_per_device x the node's devices (GPUs; a CPU agent is one device) and
  // reputation >= min_reputation_ppm. 0 stake: a private network where nobody stakes.
  MicroPlume min_stake_per_device_micro_plume = 0;
  uint32_t min_reputation_ppm = kMinReputationPpmDefault;
  int64_t challenge_window_ms = kChallengeWindowMsDefault;
  uint32_t slash_bps = kSlashBpsDefault;
  uint32_t finder_fee_bps = kFinderFeeBpsDefault;
  // Each new job's verification reserve in bps of its maximum cost (limits.h); audits off: 0.
  uint32_t verification_reserve_bps = kVerificationReserveBpsDefault;
};

// Rows changed since the last TakeDirty, ready for Store::Save (one transaction).
struct Dirty {
  std::vector<Node> nodes;
  std::vector<Job> jobs;
  std::vector<Task> tasks;
  std::vector<Round> rounds;
  std::vector<LedgerOp> outbox_upserts;
  std::vector<std::string> outbox_deletes;
  std::vector<std::pair<BlobHash, ClientId>> blob_uploaders;  // new (blob, uploader) pairs
  std::vector<BlobHash> blob_uploader_deletes;                // every uploader of these goes
  std::vector<Verdict> verdicts;
  uint64_t next_job_seq = 1;
  uint64_t next_op_seq = 1;
  uint64_t next_task_wire_id = 1;
  int64_t now_ms = 0;
  bool Empty() const {
    return nodes.empty() && jobs.empty() && tasks.empty() && rounds.empty() &&
           outbox_upserts.empty() && outbox_deletes.empty() && blob_uploaders.empty() &&
           blob_uploader_deletes.empty() && verdicts.empty();
  }
};

// A provider's replay-audit record as verify/audit.h sees it; its audit rate is
// verify::AuditRatePpm(AuditRecordOf(n), config.audit).
verify::ProviderRecord AuditRecordOf(const Node& n);

// Running totals of replay audits over a state (for metrics; O(nodes + tasks)).
struct AuditTotals {
  uint64_t audited = 0;        // results an audit run was queued for
  uint64_t matched = 0;        // audits that gave the same output hash
  uint64_t mismatched = 0;     // audits that did not (verdicts)
  uint64_t disputes = 0;       // mismatches a referee run was queued for
  uint64_t proven_faulty = 0;  // runs a referee proved wrong
  uint64_t no_peer = 0;        // drawn, but no other provider of the class
  uint64_t recomputed_flops = 0;  // FLOPs of the referee runs that decided (segments or whole)
  uint64_t segment_disputes = 0;  // verdicts decided on commitment chains (core_dispute.cc)
};
AuditTotals CountAudits(const State& s);

class Core {
 public:
  explicit Core(Config config = {});
  // Resumes from a loaded state (Store::Load). Node-task links are rebuilt from the tasks.
  Core(Config config, State restored);
  ~Core();
  Core(Core&&) noexcept;
  Core& operator=(Core&&) noexcept;

  // Applies one event at time now_ms (earlier times are treated as the latest time seen).
  std::vector<Action> Handle(int64_t now_ms, const Event& event);

  // After a restart: gives every live node a fresh lease to reconnect in, and returns what may
  // have been decided but not carried out before the crash: task assignments (agents ignore a
  // task/attempt they already hold), pending aggregations and ledger requests.
  std::vector<Action> Recover(int64_t now_ms);

  Dirty TakeDirty();
  const State& state() const;
  // The task with this protocol task id, or nullptr.
  const Task* FindTaskByWireId(uint64_t wire_id) const;
  const Config& config() const;
  // Audit and referee runs not yet finished (they may outlive their jobs).
  size_t open_audits() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plume::scheduler
