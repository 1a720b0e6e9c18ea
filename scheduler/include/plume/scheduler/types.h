// Scheduler records: what the scheduler knows about nodes, jobs, tasks and rounds. These are the
// rows the core keeps in memory, the store writes to SQLite, and the reactor reads to answer
// status queries. Plain values only; no behaviour beyond small helpers. The names (ids.h) and the
// node records (node_types.h) are their own headers, included here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "plume/scheduler/ids.h"
#include "plume/scheduler/node_types.h"

namespace plume::scheduler {

enum class JobKind : uint8_t { kTrain = 0, kInfer = 1 };

struct ModelConfig {
  uint32_t n_layer = 0;
  uint32_t n_head = 0;
  uint32_t n_embd = 0;
  uint32_t context = 0;
  uint32_t vocab = 256;

  bool operator==(const ModelConfig&) const = default;
};

// DiLoCo: W workers x R rounds x H local steps.
struct TrainParams {
  uint32_t workers = 1;
  uint32_t rounds = 1;
  uint32_t local_steps = 1;
  uint32_t batch = 1;
  uint32_t seq_len = 1;
  double outer_lr = 0.7;
  double outer_momentum = 0.9;
  int64_t round_timeout_ms = 120'000;

  bool operator==(const TrainParams&) const = default;
};

struct InferParams {
  uint32_t prompt_count = 0;
  uint32_t shards = 1;
  uint32_t max_new_tokens = 0;
  uint32_t prompt_tokens_max = 0;  // longest prompt, for the work estimate
  BlobHash checkpoint_blob;        // the model to run
  // Billed tokens of each prompt (kernels/flops.h PromptTokens), so a shard's FLOPs are what
  // the agent computes from the prompts it gets. Empty (jobs stored before it existed): every
  // prompt is billed at prompt_tokens_max.
  std::vector<uint32_t> prompt_tokens;
  // The job's tokenizer's longest token in bytes (what bounds a completion, verify/screen.h),
  // found when the prompts are counted and kept with the job, so that the bound on a result
  // upload never has to build the tokenizer again after a restart. 0: stored before it was kept.
  uint64_t token_bytes_max = 0;

  bool operator==(const InferParams&) const = default;
};

// A parsed job spec: only the numbers the scheduler decides with, plus the runner's own config
// (opaque here) that is forwarded to agents unchanged.
struct JobSpec {
  JobKind kind = JobKind::kTrain;
  std::string name;
  uint64_t seed = 0;
  ModelConfig model;
  TrainParams train;
  InferParams infer;
  std::vector<BlobHash> data_blobs;  // train: token dataset; infer: prompts
  BlobHash initial_params_blob;      // train: empty means "initialise from seed"
  std::optional<Backend> backend;    // none: any backend
  MicroPlume budget_micro_plume = 0;
  MicroPlume max_price_micro_plume_per_pflop = 0;
  // The network fee the job was accepted under (set by the scheduler at submit, not by the
  // team): its escrow covers it, and every settle of the job uses it, whatever --fee-bps a
  // restarted scheduler has.
  uint32_t fee_bps = 0;
  // The job's escrow hold, MaxJobCostMicroPlume under fee_bps, stamped with it at submit so
  // status, metrics and the hold request read it instead of recomputing it.
  MicroPlume escrow_micro_plume = 0;
  // The verification reserve the job was accepted under (Config::verification_reserve_bps, 0
  // with audits off), stamped at submit like fee_bps: part of escrow_micro_plume
  // (VerificationReserveMicroPlume), what pays the job's audit and referee runs.
  uint32_t verification_reserve_bps = 0;
  std::string runner_config;  // forwarded to agents as is (the spec's TOML)
  // A published dataset the job trains on (docs/data-owners.md), with the royalty rate of its
  // terms (terms never change, so this is the rate every settle of the job pays); "" and 0 when
  // the team brought its own data.
  std::string dataset;
  uint64_t royalty_micro_plume_per_mtoken = 0;

  bool operator==(const JobSpec&) const = default;
};

enum class JobState : uint8_t {
  kQueued = 0, kRunning = 1, kSucceeded = 2, kFailed = 3, kCancelled = 4
};

struct Job {
  JobId id;
  ClientId owner;
  JobSpec spec;
  JobState state = JobState::kQueued;
  std::string reason;  // why it is waiting, failed or was cancelled
  uint64_t seq = 0;    // submission order; the queue is served in this order
  int64_t submitted_at_ms = 0;
  int64_t finished_at_ms = 0;
  int64_t infeasible_since_ms = -1;  // -1: some registered node could run it
  uint32_t round = 0;                // train: the round in progress
  BlobHash params_blob;              // train: the current round's input parameters
  std::vector<BlobHash> outputs;     // train: final params; infer: one blob per shard, in order
  MicroPlume paid_micro_plume = 0;  // settles the ledger applied (Task::settle kApplied)
  bool escrow_held = false;  // tasks are placed only once the ledger holds the budget

  bool operator==(const Job&) const = default;
};

enum class TaskKind : uint8_t { kTrainWorker = 0, kInferShard = 1 };

// Replay audits (verify/audit.h). An audit run and a referee run are tasks of their own
// ("<task>/audit", "<task>/referee") that the agent cannot tell from any other assignment: same
// job, kind, round, shard and input. They never count towards a job's progress. A training
// dispute with commitment chains (verify/dispute.h) narrows the referee to one segment: an export
// run ("<task>/export", pinned to one of the two disputants) first fetches the state the segment
// starts from, then the referee ("<task>/referee") replays that segment only.
enum class AuditRole : uint8_t { kNone = 0, kAudit = 1, kReferee = 2, kExport = 3 };
// Where the audit of a committed result stands (on the original task).
enum class AuditStatus : uint8_t {
  kNone = 0,            // not drawn (or a task of an older scheduler)
  kPending = 1,         // drawn: an audit run is queued or running
  kMatched = 2,         // the audit run gave the same output hash: the result stands
  kDisputed = 3,        // the hashes differ: a referee run is queued or running
  kOriginalFaulty = 4,  // the referee agreed with the audit: the original provider is faulty
  kAuditorFaulty = 5,   // the referee agreed with the original: the auditor is faulty
  kUndecided = 6,       // all differ, or no referee could be found: nobody is convicted
  kNoPeer = 7,          // drawn, but no other provider of the class could run it: unaudited
  kNoReserve = 8,       // drawn, but the job's verification reserve could not pay for it
};
enum class TaskState : uint8_t {
  kQueued = 0, kAssigned = 1, kSucceeded = 2, kFailed = 3, kCancelled = 4, kDropped = 5
};

struct TaskMetrics {
  double loss = 0;
  uint64_t tokens = 0;
  uint64_t flops = 0;  // as reported by the agent; logged, never paid on

  bool operator==(const TaskMetrics&) const = default;
};

// What became of a succeeded task's pay. Pay is reported (job's spent, the agent's ack, the
// metrics) only once it is kApplied: a kept settle may still be refused by the ledger.
enum class SettleState : uint8_t {
  kNone = 0,     // not succeeded (or recorded before settle states were kept)
  kUnpaid = 1,   // used, but no verified ledger receipt: nothing is owed
  kKept = 2,     // the countersigned settle is on disk and its request in the outbox
  kApplied = 3,  // the ledger applied it (or no ledger is configured)
  kRefused = 4,  // the ledger refused it, or it was lost: the provider is not paid; alert
};

struct Task {
  TaskId id;
  uint64_t wire_id = 0;  // the protocol's numeric task id; unique, never reused
  JobId job;
  TaskKind kind = TaskKind::kTrainWorker;
  uint32_t round = 0;
  uint32_t shard = 0;    // worker index (train) or prompt shard (infer)
  uint32_t attempt = 1;  // 1-based; bumped on every retry or requeue
  TaskState state = TaskState::kQueued;
  NodeId node;           // set while assigned and after success
  int64_t not_before_ms = 0;  // retry backoff: not placed before this time
  int64_t assigned_at_ms = 0;
  int64_t finished_at_ms = 0;
  BlobHash input_params_blob;
  BlobHash output_blob;
  std::string last_error;
  TaskMetrics metrics;
  uint64_t flops = 0;  // the work it is paid for, from the spec
  // Fixed when the attempt is assigned: min(the node's price then, the job's maximum). The
  // settle, the receipt and `paid_micro_plume` use it; a re-registration at another price does
  // not change it (F3). 0 until first assigned.
  MicroPlume price_micro_plume_per_pflop = 0;
  MicroPlume paid_micro_plume = 0;  // what its settle pays once applied (see settle)
  SettleState settle = SettleState::kNone;
  // Providers whose result for this task the screens refused: never given the task again. At most
  // kRefusedResultsPerTaskMax; these attempts do not count against Config::max_attempts.
  std::set<NodeId> excluded;
  // Replay audits. On an audit or referee task: its role, the original task, and the kernel class
  // it must run in (bit-exact comparison only within one class). On an original: the audit rate
  // it was drawn at, where its audit stands, and whether its settle waits for the verdict.
  AuditRole audit_role = AuditRole::kNone;
  TaskId audit_of;
  std::string kernel_class;
  uint32_t audit_rate_ppm = 0;
  AuditStatus audit = AuditStatus::kNone;
  bool settle_deferred = false;
  // Challenge window: an unaudited committed result becomes final (and its settle is requested,
  // on the first tick at or after it) at finished_at_ms + Config::challenge_window_ms. Kept once
  // settled; "pending verification" is final_at_ms > 0 with settle still kNone. 0 when the result
  // did not wait for a window (audited: settle_deferred until the verdict; unpaid; no result).
  int64_t final_at_ms = 0;
  // Providers that reported retryable=false for it: never given it again; a second one fails the
  // job (one provider alone cannot kill a job, F4).
  std::set<NodeId> nonretryable_from;
  // Cheap disputes (verify/dispute.h; saved in task_dispute). `commitments`: the chain links of a
  // training result (hex, at most verify::kMaxCommitmentLinks), kept on audited originals and on
  // audit runs; a segment referee's holds the one link it recomputed. An export run runs only on
  // `pinned_node` and asks for the state behind link `dispute_link` of run `dispute_source`; a
  // segment referee recomputes link `dispute_link` from `start_state_blob` (an export's result;
  // empty for link 0: the round's parameters). dispute_link is -1 on every other task.
  // Inference: `commitments` holds the completion hashes of an audited original and its audit
  // run; a dispute's referee regenerates only `dispute_prompts` (positions in the shard,
  // ascending, where the two lists differ) and its `commitments` are their hashes; its
  // dispute_link is the first of them.
  std::vector<std::string> commitments;
  // The agent's signed protocol receipt (bytes and signature, raw) of the result whose
  // `commitments` are kept, and only while they are: its commitment root signs them, so a
  // dispute/1 verdict's evidence blob carries it (core_evidence.cc).
  std::string receipt;
  std::string receipt_signature;
  std::vector<uint32_t> dispute_prompts;
  NodeId pinned_node;
  int32_t dispute_link = -1;
  TaskId dispute_source;
  BlobHash start_state_blob;
  uint64_t progress_step = 0;  // from heartbeats; not persisted
  double progress_loss = 0;

  bool operator==(const Task&) const = default;
};

enum class RoundState : uint8_t { kRunning = 0, kAggregating = 1, kDone = 2 };

struct Round {
  JobId job;
  uint32_t round = 0;
  RoundState state = RoundState::kRunning;
  BlobHash params_in;
  BlobHash params_out;
  int64_t started_at_ms = 0;
  int64_t deadline_ms = 0;  // after it, workers not running or done are dropped

  bool operator==(const Round&) const = default;
};
using RoundKey = std::pair<JobId, uint32_t>;

// A ledger request waiting to be applied. Kept (and persisted) until the shell reports it done,
// so a crash between "decided" and "applied" re-sends it; the ledger applies an id once.
// kCheckpoint: a training round's output, for lineage (ledger/lineage.h).
enum class LedgerOpKind : uint8_t {
  kHold = 0, kSettle = 1, kRelease = 2, kSlash = 3, kCheckpoint = 4,
  kVerdict = 5,  // "verdict:<original>": memo is the verdict as text (verdict_memo.h)
  kReceipt = 6,  // "receipt:<run>": an unpaid run's kept receipt, recorded for its verdict
};
// One leg of a slash: where part of the slashed stake goes. `kind` is the ledger's LegKind value
// (0 treasury, 1 compensation, 2 clawback, 3 finder; verify/slash.h SlashLegKind).
struct SlashLeg {
  uint8_t kind = 0;
  std::string account;  // "treasury", "team:<hex>", "provider:<hex>"
  MicroPlume amount = 0;

  bool operator==(const SlashLeg&) const = default;
};
struct LedgerOp {
  std::string id;  // "hold:<job>", "settle:<task>", "release:<job>", "slash:<faulty task>",
                   // "checkpoint:<job>/r<round>", "verdict:<task>", "receipt:<run>"
  uint64_t seq = 0;  // decision order; re-sent in this order after a restart
  LedgerOpKind kind = LedgerOpKind::kHold;
  JobId job;
  ClientId owner;
  NodeId node;  // settle: the provider paid; slash: the provider slashed
  TaskId task;  // settle: the task paid for; slash: the faulty run
  uint32_t attempt = 0;
  MicroPlume amount_micro_plume = 0;  // hold, settle and slash (total); release frees the rest
  uint64_t flops = 0;
  // kSlash only: the legs (verify/slash.h order; they sum to amount_micro_plume) and the
  // evidence text for the entry's memo. kCheckpoint: memo is the round's fact as text
  // (src/checkpoint_memo.h), fixed when the round closed so a re-sent request is the same.
  std::vector<SlashLeg> legs;
  std::string memo;

  bool operator==(const LedgerOp&) const = default;
};

// What the reactor hands the ledger side for an accepted result, so it can rebuild the agent's
// ledger receipt (ledger/receipt.h) and keep the countersigned settle until the core asks for
// "settle:<task>". Work facts are the scheduler's own (flops from TaskFlops, price from the node
// and the job); device, kernel build, times and the signature are the agent's (TaskResult).
struct SettleReceipt {
  TaskId task;          // the core's id (names the settle request)
  JobId job;
  uint64_t task_wire_id = 0;  // the receipt's task id, in decimal
  uint32_t attempt = 0;
  std::string agent;    // 32-byte key
  std::vector<std::string> input_hashes;  // 32 bytes each, as the agent's protocol receipt lists
  std::string output_hash;                // 32 bytes
  uint64_t flops = 0;
  MicroPlume price_micro_plume_per_pflop = 0;
  uint32_t fee_bps = 0;  // the job's (JobSpec::fee_bps)
  std::string device;
  std::string kernel_build;
  uint64_t start_unix_ms = 0;
  uint64_t end_unix_ms = 0;
  std::string agent_signature;  // 64 bytes; empty: the agent signed no ledger receipt
  // Royalties this task owes (ledger/data_entries.h): the dataset and the tokens it read.
  std::string royalty_dataset;
  uint64_t royalty_tokens = 0;
};

// The outcome of one audit that found a mismatch, with its evidence: who ran the task, what each
// run's output hash was, and which run the referee sided with. The ledger's settle entries of the
// three task ids ("settle:<task>") hold the paid runs' countersigned receipts; a run proven
// faulty was never settled when `faulty_paid` is false. The next issue (stake, slashing) claws
// back from a verdict whose faulty run was paid. Kept for ever, keyed by the original task.
struct Verdict {
  TaskId task;
  JobId job;
  std::string policy;  // verify::kAuditPolicy
  std::string kernel_class;
  AuditStatus outcome = AuditStatus::kDisputed;
  NodeId original_node, audit_node, referee_node;
  uint32_t original_attempt = 0;
  BlobHash original_output, audit_output, referee_output;
  NodeId faulty;             // empty: nobody proven faulty (yet)
  bool faulty_paid = false;  // the faulty run had been settled before the verdict
  int64_t decided_at_ms = 0;
  MicroPlume slashed_micro_plume = 0;  // the slash decided for the fault (0: none, no stake)
  // A dispute decided on commitment chains (verify::kDisputePolicy): the link that differed,
  // and the share of the task the referee recomputed (0: decided on a malformed chain without
  // recomputing; 1: a full re-run, as without chains). -1: not decided on chains.
  int32_t dispute_link = -1;
  double recomputed_fraction = 1;
  // dispute/1: the evidence blob (verify/evidence.h) the verdict entry names, set when the
  // verdict is recorded; the reactor writes its bytes (DisputeEvidenceOf) to the blob store.
  BlobHash evidence_blob;

  bool operator==(const Verdict&) const = default;
};

// Everything the core knows. The store saves and loads exactly this.
struct State {
  std::map<NodeId, Node> nodes;
  std::map<NodeId, NodeRecord> records;  // forgotten nodes' records (NodeRecord)
  std::map<JobId, Job> jobs;
  std::map<TaskId, Task> tasks;
  std::map<RoundKey, Round> rounds;
  std::map<std::string, LedgerOp> outbox;
  // Who sent each blob's bytes (BlobUploaded): what a key may name in a submit and read back
  // (blob_access.h). Blobs the scheduler made itself (parameters, joined outputs) have none.
  std::map<BlobHash, std::set<ClientId>> blob_uploaders;
  std::map<TaskId, Verdict> verdicts;  // disputed audits, by original task
  uint64_t next_job_seq = 1;
  uint64_t next_op_seq = 1;
  uint64_t next_task_wire_id = 1;
  int64_t now_ms = 0;

  bool operator==(const State&) const = default;
};

const char* Name(Backend b);
const char* Name(NodeState s);
const char* Name(JobKind k);
const char* Name(JobState s);
const char* Name(TaskKind k);
const char* Name(TaskState s);
const char* Name(RoundState s);
const char* Name(LedgerOpKind k);
const char* Name(SettleState s);
const char* Name(AuditRole r);
const char* Name(AuditStatus s);

inline bool IsTerminal(JobState s) { return s >= JobState::kSucceeded; }
inline bool IsTerminal(TaskState s) { return s >= TaskState::kSucceeded; }
// An accepted result whose pay waits for its audit's verdict or its challenge window.
inline bool PendingVerification(const Task& t) {
  return t.state == TaskState::kSucceeded && t.settle == SettleState::kNone &&
         (t.final_at_ms > 0 || t.settle_deferred);
}

}  // namespace plume::scheduler
