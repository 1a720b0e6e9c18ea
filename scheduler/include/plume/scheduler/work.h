// Work accounting and spec checks, all pure: FLOPs follow from the model config and token
// counts in the spec (never from what an agent reports), cost from FLOPs and price.
#pragma once

#include <cstdint>

#include "plume/protocol/error.h"
#include "plume/scheduler/placement.h"
#include "plume/scheduler/types.h"

namespace plume::scheduler {

// GPT-2 parameter count: embeddings (vocab + context) x width, per layer 12 d^2 + 13 d, final LN.
uint64_t ParamCount(const ModelConfig& m);

// Train worker: 6 x params x tokens (forward + backward), tokens = H x batch x seq_len.
// Infer shard: 2 x params x tokens, tokens = prompts in the shard x (prompt + new tokens).
uint64_t TaskFlops(const JobSpec& spec, uint32_t shard);
uint64_t TrainWorkerTokens(const JobSpec& spec);

// Price of `flops` at `price` per PFLOP, rounded up to a whole micro-PLUME.
MicroPlume CostMicroPlume(uint64_t flops, MicroPlume price_micro_plume_per_pflop);

// The most the job can cost: every task paid once at the job's maximum price.
MicroPlume MaxJobCostMicroPlume(const JobSpec& spec);

// Number of tasks per round (train) or in total (infer).
uint32_t ShardCount(const JobSpec& spec);
// Prompts in shard `shard` of `count` (the first prompt_count % count shards get one more).
uint32_t PromptsInShard(uint32_t prompt_count, uint32_t count, uint32_t shard);

// What a task of this job needs from a node.
TaskNeeds NeedsOf(const JobSpec& spec);

// Checks a spec before it is accepted; the error names the field and what to do.
Status ValidateSpec(const JobSpec& spec);

}  // namespace plume::scheduler
