// Every bound and default time of the scheduler, in one place.
#pragma once

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
// deadline = clamp(factor x expected, min, max), expected = the task's FLOPs / the node's
// measured FLOP/s; a node without a speed figure gets the max. After a scheduler restart the
// clock of every running attempt starts again (Core::Recover).
inline constexpr uint32_t kTaskDeadlineFactorDefault = 10;
inline constexpr int64_t kTaskDeadlineMinMsDefault = 30 * 60'000;
inline constexpr int64_t kTaskDeadlineMaxMsDefault = 24 * 3'600'000;
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
// One task per agent at a time; an agent uses all of its GPUs for it (NCCL inside the node).
inline constexpr uint32_t kTasksPerNodeMax = 1;

// Spec bounds: a spec outside them is refused with a message naming the field.
inline constexpr uint32_t kWorkersMax = 1024;
inline constexpr uint32_t kRoundsMax = 100'000;
inline constexpr uint32_t kLocalStepsMax = 1'000'000;
inline constexpr uint32_t kInferShardsMax = 4096;
inline constexpr uint32_t kPromptsMax = 10'000'000;
// Prompt plus generated tokens of one prompt; keeps one prompt's billed FLOPs in an int64.
inline constexpr uint64_t kGenerationPositionsMax = 1 << 20;
inline constexpr uint32_t kJobIdBytesMax = 128;
inline constexpr uint32_t kDataBlobsMax = 64;

}  // namespace plume::scheduler
