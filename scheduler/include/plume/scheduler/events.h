// Scheduler core inputs (events) and outputs (actions). The reactor turns protocol messages and
// timer ticks into events, feeds them to Core::Handle, persists the dirty rows, then carries out
// the actions (send messages, aggregate a round, talk to the ledger). Each event type Foo is
// handled by Core::OnFoo, so `grep OnFoo` finds the hop.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "plume/scheduler/types.h"

namespace plume::scheduler {

// ---- events -------------------------------------------------------------------------------

// An agent joined (or rejoined after a restart or a lost lease). Starts or renews its lease.
// A price <= 0 is refused (Rejected; the node is not added or changed): a free bid would win
// every placement and then be re-priced (F3).
struct AgentRegistered {
  NodeInfo info;
};

struct TaskProgress {
  TaskId task;
  uint32_t attempt = 0;
  uint64_t step = 0;
  double loss = 0;
};

// Renews the lease. `held` lists every task the agent holds: running, or finished with a result
// not yet acknowledged. An assigned task missing from it (after a grace period) is requeued.
struct Heartbeat {
  NodeId node;
  std::vector<TaskProgress> held;
};

struct AgentDraining {
  NodeId node;
};

struct AgentGone {
  NodeId node;
};

struct JobSubmitted {
  JobId job;
  ClientId owner;
  JobSpec spec;
};

struct TaskSucceeded {
  TaskId task;
  uint32_t attempt = 0;
  NodeId node;
  BlobHash output_blob;  // train: parameter delta; infer: the shard's outputs
  TaskMetrics metrics;
  // false: the ledger cannot pay it (no verified ledger receipt was kept); the result is used
  // and nothing is owed.
  bool payable = true;
  // TaskResult.commitments as hex, already checked against the signed receipt's commitment root
  // by the reactor (verify/dispute.h): training, the chain links; a segment referee, the link
  // it recomputed. Empty: none (an older agent, or an inference shard).
  std::vector<std::string> commitments = {};
  // The signed protocol receipt (raw bytes and signature) whose commitment root the reactor
  // checked `commitments` against; kept with them for a dispute's evidence. Empty: none.
  std::string receipt = {};
  std::string receipt_signature = {};
};

// The result of a current attempt failed a screen (plume/verify/screen.h): it is not accepted or
// paid, the provider's record counts a refusal, and the task goes to another provider.
struct TaskRefused {
  TaskId task;
  uint32_t attempt = 0;
  NodeId node;
  BlobHash output_blob;
  std::string reason;   // the screen's reason code ("not_finite")
  std::string message;  // what exactly was wrong
};

struct TaskFailed {
  TaskId task;
  uint32_t attempt = 0;
  NodeId node;
  std::string reason;
  // false: the agent claims the input fails everywhere (bad data). A claim, not a fact: the task
  // goes to another provider, and the job fails only when a provider of another owner says the
  // same (owners.h).
  bool retryable = true;
};

// The shell finished an AggregateRound and wrote the new parameters.
struct RoundAggregated {
  JobId job;
  uint32_t round = 0;
  BlobHash params_blob;
};

// The shell could not aggregate (bad delta blob, disk full): the job fails with this reason.
struct RoundAggregationFailed {
  JobId job;
  uint32_t round = 0;
  std::string reason;
};

struct CancelJob {
  JobId job;
  ClientId by;
};

// The ledger applied (or had already applied) this outbox entry.
struct LedgerApplied {
  std::string op_id;
};

// The ledger refused an entry (a hold beyond the owner's balance): a refused hold fails its job.
struct LedgerFailed {
  std::string op_id;
  std::string reason;
};

// A timer: leases, backoffs, round deadlines and infeasibility grace are checked here.
struct Tick {};

// `uploader` sent every byte of `blob` and the store verified them: from now on that key may
// name the blob in a submit and read it (blob_access.h). Saved before the upload is acknowledged.
struct BlobUploaded {
  ClientId uploader;
  BlobHash blob;
};

// A retention sweep (retention.h) deleted these blobs from the store: whoever uploaded them may
// name them no more (an upload of the same bytes records its uploader again).
struct BlobsDeleted {
  std::vector<BlobHash> blobs;
};

// The ledger's stake of a node (stake:<node>, unbond:<node>), sent by the shell after the node
// registers and after every ledger append that touches them (stake, unstake, withdraw, slash).
// Placement gates on `staked`; a node whose stake rises becomes placeable again.
struct StakeChanged {
  NodeId node;
  MicroPlume staked = 0;
  MicroPlume unbonding = 0;
};

// Governance executed a parameter change (docs/governance.md): the network's values from now
// on. A job keeps the fee it was accepted under (its spec); new jobs take the new fee. The
// others are the network's protection and apply to what happens from now on: the audit floor
// to the next draw, the minimum stake to the next placement, the slash and finder shares to the
// next proven fault, the challenge window to results that finish afterwards.
struct ParamsChanged {
  uint32_t fee_bps = 0;
  uint32_t audit_p_min_ppm = 0;
  MicroPlume min_stake_per_device = 0;
  uint32_t slash_bps = 0;
  uint32_t finder_fee_bps = 0;
  int64_t challenge_window_ms = 0;
};

using Event = std::variant<AgentRegistered, Heartbeat, AgentDraining, AgentGone, JobSubmitted,
                           TaskSucceeded, TaskRefused, TaskFailed, RoundAggregated,
                           RoundAggregationFailed, CancelJob, LedgerApplied, LedgerFailed,
                           BlobUploaded, BlobsDeleted, StakeChanged, ParamsChanged, Tick>;

// ---- actions ------------------------------------------------------------------------------

// Send a task to an agent. The job's spec (runner config, data blobs) is in core.state().
struct SendTaskAssign {
  NodeId node;
  TaskId task;
  uint64_t wire_id = 0;
  uint32_t attempt = 0;
  JobId job;
  TaskKind kind = TaskKind::kTrainWorker;
  uint32_t round = 0;
  uint32_t shard = 0;
  uint32_t shard_count = 0;  // W (train) or S (infer)
  BlobHash input_params_blob;
};

struct SendTaskCancel {
  NodeId node;
  TaskId task;
  uint32_t attempt = 0;
  std::string reason;
};

// DiLoCo outer step: average the deltas (weighted), apply Nesterov-momentum SGD (momentum kept
// per job by the shell), write the new parameters blob, then report RoundAggregated.
struct AggregateRound {
  JobId job;
  uint32_t round = 0;
  BlobHash input_params_blob;  // empty: round 0 from the seed's initialisation
  std::vector<BlobHash> deltas;  // in worker order; dropped workers left out
  std::vector<uint64_t> weights;  // tokens each delta was trained on
  double outer_lr = 0;
  double outer_momentum = 0;
};

struct JobFinished {
  JobId job;
  ClientId owner;
  JobState state = JobState::kSucceeded;
  std::string reason;
  std::vector<BlobHash> outputs;  // train: final params; infer: shard outputs in prompt order
};

// Escrow hold, task settlement, release of what is left, slash of a proven fault. Idempotent
// by op.id.
struct LedgerRequest {
  LedgerOp op;
};

// A refused request (bad spec, duplicate job id, cancel by a non-owner): reply to `to`.
struct Rejected {
  std::string to;
  JobId job;
  std::string reason;
};

enum class LogLevel : uint8_t { kInfo = 0, kWarn = 1 };
struct Log {
  LogLevel level = LogLevel::kInfo;
  std::string message;
  JobId job;
  TaskId task;
  NodeId node;
};

using Action = std::variant<SendTaskAssign, SendTaskCancel, AggregateRound, JobFinished,
                            LedgerRequest, Rejected, Log>;

}  // namespace plume::scheduler
