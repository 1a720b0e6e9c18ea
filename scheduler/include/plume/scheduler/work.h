// Work accounting and spec checks, all pure: FLOPs follow from the model config and token
// counts in the spec (never from what an agent reports), cost from FLOPs and price.
#pragma once

#include <cstdint>
#include <span>

#include "plume/kernels/config.h"
#include "plume/protocol/error.h"
#include "plume/scheduler/placement.h"
#include "plume/scheduler/types.h"
#include "plume/verify/evidence.h"

namespace plume::scheduler {

// GPT-2 parameter count: embeddings (vocab + context) x width, per layer 12 d^2 + 13 d, final LN.
uint64_t ParamCount(const ModelConfig& m);
// The same model as the kernels library describes it.
kernels::ModelConfig KernelsConfig(const ModelConfig& m);

// The FLOPs a task is billed for, by the convention of kernels/flops.h that the agent signs
// with: a train worker runs local_steps x batch sequences of seq_len; an infer shard generates
// max_new_tokens after each of its prompts. Saturates (ValidateSpec refuses such a spec).
uint64_t TaskFlops(const JobSpec& spec, uint32_t shard);
// The global index of an infer shard's first prompt.
uint64_t ShardFirstPrompt(const InferParams& infer, uint32_t shard);
// The FLOPs of generating after the given prompts (global indices) of an infer job: a shard's,
// or the few a dispute's referee regenerates.
uint64_t InferPromptsFlops(const JobSpec& spec, std::span<const uint64_t> prompts);
uint64_t TrainWorkerTokens(const JobSpec& spec);

// What a provider is paid for `flops` at `price` per PFLOP: the ledger's own rule
// (ledger/amount.h PayForFlops, rounded down), saturated.
MicroPlume PayMicroPlume(uint64_t flops, MicroPlume price_micro_plume_per_pflop);

// a + b for the amounts the core sums (a job's paid total, its escrow spent): saturates rather
// than overflow. Nothing bounds these sums by a ledger hold when no ledger is configured.
MicroPlume AddMicroPlume(MicroPlume a, MicroPlume b);

// The job's escrow: every task paid once at the job's maximum price, plus spec.fee_bps of
// each payment (ledger/amount.h CostWithFee per task, the same rounding the settles use), plus
// each task's royalty (RoyaltyPerTaskMicroPlume), so the hold always covers every settle.
// Saturates.
MicroPlume MaxJobCostMicroPlume(const JobSpec& spec);
// What one audit or referee run of a task of `flops` may cost the job: the FLOPs at the job's
// maximum price plus the fee (no royalty). Saturates.
MicroPlume VerificationRunCostMicroPlume(const JobSpec& spec, uint64_t flops);
// The job's verification reserve: spec.verification_reserve_bps of the sum over its tasks of
// VerificationRunCostMicroPlume, rounded down (at 20000, exactly one audit and one referee of
// every task). Saturates.
MicroPlume VerificationReserveMicroPlume(const JobSpec& spec);
// What a submit holds in escrow: MaxJobCostMicroPlume + VerificationReserveMicroPlume. Saturates.
MicroPlume JobHoldMicroPlume(const JobSpec& spec);
// A dataset's royalty for one training task of the job (docs/data-owners.md): the tokens a
// worker reads (local_steps x batch x seq_len, all from the one dataset) x the terms' rate /
// 1e6, rounded down; data/royalty.h's TaskTokens and RoyaltyFor, which the ledger recomputes.
// Audit and referee runs owe none (they verify, they train nothing). 0 without a dataset.
uint64_t RoyaltyTokensPerTask(const JobSpec& spec);
MicroPlume RoyaltyPerTaskMicroPlume(const JobSpec& spec);
// The sum of TaskFlops over every task of the job. Saturates.
uint64_t JobFlops(const JobSpec& spec);

// An infer job's generation speed for `plume status`, measured on the scheduler's clock: the
// tokens its succeeded shards generated (their results' counts) over the wall time from the
// first of them being assigned to the last result; 0 before a shard succeeded or when no time
// has passed. Tasks in other states are ignored.
double InferTokensPerSec(std::span<const Task* const> shards);

// Number of tasks per round (train) or in total (infer).
uint32_t ShardCount(const JobSpec& spec);
// Prompts in a shard: verify's rule, the one `plume audit --spec` recomputes evidence sizes by.
using verify::PromptsInShard;

// What a task of this job needs from a node.
TaskNeeds NeedsOf(const JobSpec& spec);

// Checks a spec before it is accepted; the error names the field and what to do.
Status ValidateSpec(const JobSpec& spec);

}  // namespace plume::scheduler
