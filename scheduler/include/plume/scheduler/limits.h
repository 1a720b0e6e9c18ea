// Every bound and default time of the scheduler, in one place.
#pragma once

#include <cstddef>
#include <cstdint>

namespace plume::scheduler {

// An agent that sends no heartbeat for this long is lost and its tasks are requeued. Agents
// heartbeat several times per lease (the agent's default interval is a third of it).
inline constexpr int64_t kLeaseMsDefault = 10'000;
// An assigned task that the agent's heartbeats still do not list after this long is treated as
// never received (the assign message was lost, or the agent restarted) and requeued.
inline constexpr int64_t kAssignAckGraceMsDefault = 15'000;
// Retry backoff: base * 2^(attempt-2) for the second attempt on, capped.
inline constexpr int64_t kRetryBackoffBaseMsDefault = 1'000;
inline constexpr int64_t kRetryBackoffCapMsDefault = 60'000;
// Task deadline: an attempt still running this long after it was assigned is taken from its
// node (which may be hung yet still heartbeating), counted as a failure there and retried.
// deadline = clamp(factor x expected, min, max), expected = the task's FLOPs (from the spec) /
// the operator's floor speed. Never the agent's own speed figure: an agent that claims to be
// slow (or reports 0) would hold a task for the maximum (F4, the 24-hour squat). The floor is
// the slowest sustained speed the operator admits (1 GFLOP/s: any CPU agent is faster, so an
// honest one is never cut short; raise it for a GPU-only network). 0 means "no floor": every
// attempt gets the max. After a scheduler restart the clock of every running attempt starts
// again (Core::Recover).
inline constexpr uint32_t kTaskDeadlineFactorDefault = 10;
inline constexpr int64_t kTaskDeadlineMinMsDefault = 30 * 60'000;
inline constexpr int64_t kTaskDeadlineMaxMsDefault = 24 * 3'600'000;
inline constexpr uint64_t kFloorFlopsPerSDefault = 1'000'000'000;
inline constexpr uint32_t kFeeBpsDefault = 500;  // 5 % of each settle to the treasury
// A task that has been tried this many times without success fails its job.
inline constexpr uint32_t kMaxAttemptsDefault = 5;
// A job that no registered node could ever run stays queued (with the reason) this long, in
// case a suitable agent joins, then fails.
inline constexpr int64_t kInfeasibleGraceMsDefault = 300'000;
// Results of one task refused by the screens (each from another provider: a refused provider is
// not given the task again) before its job fails. One bad result never fails a job; this many
// distinct providers failing the same task means the task, not the providers, is the problem.
inline constexpr uint32_t kRefusedResultsPerTaskMax = 8;
// Replay audits: an audit or referee run that no provider of the class has taken this long is
// given up (the result stands unaudited, or the dispute stays undecided) so that a job's escrow
// is not held for ever by a class that left the network.
inline constexpr int64_t kAuditWaitMsDefault = 30 * 60'000;  // under PlumeEscrowStuck's hour
// Payment after verification: an unaudited committed result is settled this long after it
// finished (an audited one when its audit matches). A result proven faulty before then is never
// paid. A minute: a provider waits at most this plus one tick for its pay; an operator that runs
// disputes on unaudited results raises it to the time they take.
inline constexpr int64_t kChallengeWindowMsDefault = 60'000;
// Slashing (verify/slash.h): at least this share of a provider's slashable stake per proven
// fault (Cosmos takes 5% for a double-sign; 10% here because a wrong result costs a team a
// re-run), and at least pay / p, whichever is more. The finder (the referee's provider, else the
// auditor's) gets this share of the slash.
inline constexpr uint32_t kSlashBpsDefault = 1000;
inline constexpr uint32_t kFinderFeeBpsDefault = 1000;
// A job's verification reserve, in basis points of its own maximum cost (docs/payments.md): the
// audit and referee runs of its results are paid from it. 20000 (twice the cost) is the bound:
// each result is audited at most once and refereed at most once, each run billed at most the
// task's FLOPs at the job's maximum price, so no audit of the job can ever find it spent. Less
// caps the job's audits: one is drawn only while the reserve still covers it and its referee.
inline constexpr uint32_t kVerificationReserveBpsDefault = 20'000;
inline constexpr uint32_t kVerificationReserveBpsMax = 20'000;
// Providers whose reputation (placement.h ReputationPpm) is below this are not placed. A new
// provider starts at 500,000; one that failed 4 of its first 4 tasks is at 166,666.
inline constexpr uint32_t kMinReputationPpmDefault = 200'000;
// One task per agent at a time; an agent uses all of its GPUs for it (NCCL inside the node).
inline constexpr uint32_t kTasksPerNodeMax = 1;

// Spec bounds: a spec outside them is refused with a message naming the field.
// Workers of a training round: each round's checkpoint entry lists every delta it averaged, and
// one entry holds at most ledger::kCheckpointDeltasMax of them (work.cc checks the two agree).
inline constexpr uint32_t kWorkersMax = 256;
inline constexpr uint32_t kRoundsMax = 100'000;
inline constexpr uint32_t kLocalStepsMax = 1'000'000;
// A round's timeout (network.round_timeout_s, as the spec parser bounds it): keeps now + timeout
// and a task's 4x deadline far inside int64.
inline constexpr int64_t kRoundTimeoutMsMax = int64_t{7} * 24 * 3'600'000;
inline constexpr uint32_t kInferShardsMax = 4096;
inline constexpr uint32_t kPromptsMax = 10'000'000;
// Prompt plus generated tokens of one prompt; keeps one prompt's billed FLOPs in an int64.
inline constexpr uint64_t kGenerationPositionsMax = 1 << 20;
inline constexpr uint32_t kJobIdBytesMax = 128;
inline constexpr uint32_t kDataBlobsMax = 64;

// The largest model the scheduler initialises on submit (GPT-2 XL, 1.56 G, fits): the
// initialisation holds the parameters once (6.4 GB at the cap; checkpoint_blob.h streams their
// encoding into the store) on the offload worker, one job at a time, and takes minutes of CPU.
inline constexpr int64_t kSchedulerInitParamsMax = 1'600'000'000;

// Blob uploads. An upload is charged (to its key's daily quota) at least a filesystem block,
// what even a 1-byte blob costs on disk beside its inode and its uploader row: a quota in bytes
// then also bounds how many blobs a key can make (256 GiB a day: at most 64 M). An assigned
// task's result allowance (reactor_tasks.cc) covers one blob, the task's one output: a result
// is one delta, shard or dispute blob, and bytes alone would let one attempt make a blob per byte.
inline constexpr uint64_t kUploadChargeBytesMin = 4096;
inline constexpr uint32_t kResultBlobsPerAttemptMax = 1;

// What a quote or submit reads from blobs (scheduler/src/spec_blobs.h): the prompts blob at most
// one message's worth (inline prompts are bounded by the message), an inference checkpoint's
// safetensors header only (a 256-layer model's is about half a MiB).
inline constexpr uint64_t kPromptsBlobBytesMax = 8ull << 20;
inline constexpr uint64_t kCheckpointHeaderBytesMax = 1ull << 20;

// Text a peer sends. Every such field is checked (peer_text.h: UTF-8, no control characters in
// names, at most these bytes) before anything keeps it; a message that fails is refused with an
// error naming the field. The bounds are far above what an honest peer sends and small enough
// that the largest ListNodes reply (kListRowsMax rows) stays well under the protocol's message
// bound, so one registration cannot break `plume nodes` for everyone.
//
// Register.name: a host name (DNS allows 253 bytes) or a label the owner chose.
inline constexpr size_t kNodeNameBytesMax = 256;
// Register.gpus: one entry per device; the largest single hosts carry 16 GPUs plus the CPU.
inline constexpr uint32_t kNodeDevicesMax = 32;
// Gpu.name: NVML's device name buffer is 96 bytes; "cpu" for the CPU backend.
inline constexpr size_t kDeviceNameBytesMax = 128;
// Register.kernelBuild and agentVersion: "git describe" plus a backend tag.
inline constexpr size_t kAgentVersionBytesMax = 128;
// TaskResult.ledgerDevice and ledgerKernelBuild go into the ledger's receipt: the ledger's own
// bounds (ledger/limits.h kDeviceBytesMax, kKernelBuildBytesMax), so a receipt the scheduler
// accepts is one the ledger can log.
inline constexpr size_t kLedgerDeviceBytesMax = 128;
inline constexpr size_t kLedgerKernelBuildBytesMax = 128;
// TaskFailed.reason becomes the task's last error and may become its job's reason, shown to the
// team in `plume status`: an error message, not a log.
inline constexpr size_t kFailureReasonBytesMax = 2048;
// BlobRef.name in a submit: one of "data", "val", "checkpoint", "prompts".
inline constexpr size_t kBlobRefNameBytesMax = 64;
// SubmitJob/QuoteJob.clientJobKey: hashed into the job id; an idempotency key, not a document.
inline constexpr size_t kClientJobKeyBytesMax = 256;
// The spec TOML is kept whole in the store (its prompts inline), so it is bounded only by the
// message it arrives in; it is still checked for UTF-8 before it is parsed and kept.

// Blob retention (retention.h): a finished job's blobs are kept this long (its owner's time to
// fetch and audit it; raise it where third parties must recompute pay for longer), a blob no job
// uses this long after it was stored. A sweep runs every kRetentionSweepMsDefault and deletes at
// most kRetentionDeletesPerSweepMax blobs (unlinks on the reactor thread: a few ms per thousand);
// a sweep that hit the cap is followed by another a second later.
inline constexpr int64_t kBlobRetentionFinishedJobMsDefault = int64_t{30} * 24 * 3'600'000;
inline constexpr int64_t kBlobRetentionUnusedMsDefault = int64_t{7} * 24 * 3'600'000;
inline constexpr int64_t kRetentionSweepMsDefault = 10 * 60'000;
inline constexpr size_t kRetentionDeletesPerSweepMax = 1000;

// plume_gpus{modelName}: device names are whatever agents say and keys are free, so the series
// are those of live agents' devices, at most this many names (most devices first), the rest
// summed under modelName="other". A fleet has a handful of GPU models.
inline constexpr size_t kGpuModelSeriesMax = 64;

}  // namespace plume::scheduler
