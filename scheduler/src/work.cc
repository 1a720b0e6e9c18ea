// Work accounting and spec checks; see work.h. All integer arithmetic on money and FLOPs is
// done in 128 bits and saturated, so an absurd spec is refused instead of wrapping around.
#include "plume/scheduler/work.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <string>

#include "plume/kernels/flops.h"
#include "plume/ledger/amount.h"
#include "plume/ledger/limits.h"
#include "plume/scheduler/limits.h"

namespace plume::scheduler {
namespace {

using u128 = unsigned __int128;
constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();

uint64_t Saturate(u128 v) { return v > kU64Max ? kU64Max : static_cast<uint64_t>(v); }

bool IsBlobHash(const BlobHash& h) {
  if (h.size() != 64) return false;
  for (char c : h) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

Status CheckModel(const ModelConfig& m) {
  if (m.n_layer == 0 || m.n_head == 0 || m.n_embd == 0 || m.context == 0 || m.vocab == 0) {
    return Fail("model: n_layer, n_head, n_embd, context and vocab must all be > 0");
  }
  if (m.n_layer > kernels::kMaxLayers || m.n_embd > kernels::kMaxEmbd ||
      m.context > kernels::kMaxContext || m.vocab > kernels::kMaxVocab) {
    return Fail("model: n_layer <= " + std::to_string(kernels::kMaxLayers) + ", n_embd <= " +
                std::to_string(kernels::kMaxEmbd) + ", context <= " +
                std::to_string(kernels::kMaxContext) + " and vocab <= " +
                std::to_string(kernels::kMaxVocab) + " (kernels/config.h)");
  }
  if (m.n_embd % m.n_head != 0) {
    return Fail("model: n_embd (" + std::to_string(m.n_embd) + ") must be a multiple of n_head (" +
                std::to_string(m.n_head) + ")");
  }
  return {};
}

static_assert(kWorkersMax <= ledger::kCheckpointDeltasMax,
              "a round's checkpoint entry must be able to list every worker's delta");

Status CheckTrain(const JobSpec& spec) {
  const TrainParams& t = spec.train;
  if (t.workers == 0 || t.workers > kWorkersMax) {
    return Fail("network.workers must be in 1.." + std::to_string(kWorkersMax));
  }
  if (t.rounds == 0 || t.rounds > kRoundsMax) {
    return Fail("network.rounds must be in 1.." + std::to_string(kRoundsMax));
  }
  if (t.local_steps == 0 || t.local_steps > kLocalStepsMax) {
    return Fail("network.local_steps must be in 1.." + std::to_string(kLocalStepsMax));
  }
  if (t.batch == 0 || t.seq_len == 0 || t.seq_len > spec.model.context) {
    return Fail("train.batch must be > 0 and train.seq_len in 1..model.context");
  }
  if (t.round_timeout_ms <= 0 || t.round_timeout_ms > kRoundTimeoutMsMax) {
    return Fail("network.round_timeout_s must be in 1.." +
                std::to_string(kRoundTimeoutMsMax / 1000));
  }
  if (!(t.outer_lr > 0) || !(t.outer_momentum >= 0 && t.outer_momentum < 1)) {
    return Fail("network.outer_lr must be > 0 and network.outer_momentum in [0, 1)");
  }
  if (!spec.initial_params_blob.empty() && !IsBlobHash(spec.initial_params_blob)) {
    return Fail("initial parameters: not a 64-hex-digit blob hash");
  }
  return {};
}

Status CheckInfer(const JobSpec& spec) {
  const InferParams& i = spec.infer;
  if (i.prompt_count == 0 || i.prompt_count > kPromptsMax) {
    return Fail("infer: the prompt count must be in 1.." + std::to_string(kPromptsMax));
  }
  if (i.shards == 0 || i.shards > kInferShardsMax || i.shards > i.prompt_count) {
    return Fail("infer: shards must be in 1..min(prompts, " + std::to_string(kInferShardsMax) +
                ")");
  }
  if (!IsBlobHash(i.checkpoint_blob)) {
    return Fail("infer.checkpoint: no model blob (upload the checkpoint before submitting)");
  }
  if (i.max_new_tokens == 0 || uint64_t{i.prompt_tokens_max} + i.max_new_tokens >
                                   std::min<uint64_t>(uint64_t{spec.model.context} * 1024,
                                                      kGenerationPositionsMax)) {
    return Fail("infer.max_new_tokens must be > 0, and the longest prompt plus max_new_tokens at "
                "most " + std::to_string(kGenerationPositionsMax) + " tokens");
  }
  if (!i.prompt_tokens.empty() && i.prompt_tokens.size() != i.prompt_count) {
    return Fail("infer: one token count per prompt");
  }
  for (const uint32_t t : i.prompt_tokens) {
    if (t > i.prompt_tokens_max) return Fail("infer: a prompt is longer than prompt_tokens_max");
  }
  return {};
}

}  // namespace

uint64_t ParamCount(const ModelConfig& m) {
  const u128 d = m.n_embd;
  const u128 per_layer = 12 * d * d + 13 * d;
  return Saturate((u128{m.vocab} + m.context) * d + m.n_layer * per_layer + 2 * d);
}

uint64_t TrainWorkerTokens(const JobSpec& spec) {
  const TrainParams& t = spec.train;
  return Saturate(u128{t.local_steps} * t.batch * t.seq_len);
}

uint32_t ShardCount(const JobSpec& spec) {
  return spec.kind == JobKind::kTrain ? spec.train.workers : spec.infer.shards;
}

kernels::ModelConfig KernelsConfig(const ModelConfig& m) {
  return kernels::ModelConfig{static_cast<int>(m.n_layer), static_cast<int>(m.n_head),
                              static_cast<int>(m.n_embd), static_cast<int>(m.context),
                              static_cast<int>(m.vocab)};
}

uint64_t TaskFlops(const JobSpec& spec, uint32_t shard) {
  const kernels::ModelConfig model = KernelsConfig(spec.model);
  if (spec.kind == JobKind::kTrain) {
    const TrainParams& t = spec.train;
    // kernels::TrainFlops in 128 bits: the per-token cost fits (CheckModel bounds the model),
    // the token count may not.
    const u128 per_token =
        static_cast<uint64_t>(kernels::TrainFlopsPerToken(model, static_cast<int>(t.seq_len)));
    return Saturate(per_token * t.seq_len * t.batch * t.local_steps);
  }
  const InferParams& i = spec.infer;
  const uint64_t first = ShardFirstPrompt(i, shard);
  std::vector<uint64_t> prompts(PromptsInShard(i.prompt_count, i.shards, shard));
  for (size_t k = 0; k < prompts.size(); ++k) prompts[k] = first + k;
  return InferPromptsFlops(spec, prompts);
}

uint64_t ShardFirstPrompt(const InferParams& i, uint32_t shard) {
  return verify::FirstPromptOfShard(i.prompt_count, i.shards, shard);
}

uint64_t InferPromptsFlops(const JobSpec& spec, std::span<const uint64_t> prompts) {
  const kernels::ModelConfig model = KernelsConfig(spec.model);
  const InferParams& i = spec.infer;
  u128 total = 0;
  for (uint64_t p : prompts) {
    const uint32_t tokens = p < i.prompt_tokens.size() ? i.prompt_tokens[p]
                                                        : std::max(1u, i.prompt_tokens_max);
    // One prompt fits an int64: CheckInfer bounds prompt + new tokens.
    total += static_cast<uint64_t>(kernels::GenerationFlops(model, tokens, i.max_new_tokens));
  }
  return Saturate(total);
}

MicroPlume PayMicroPlume(uint64_t flops, MicroPlume price_micro_plume_per_pflop) {
  if (price_micro_plume_per_pflop <= 0) return 0;
  const auto pay = ledger::PayForFlops(static_cast<uint64_t>(price_micro_plume_per_pflop), flops);
  return pay ? pay->value() : std::numeric_limits<MicroPlume>::max();
}

namespace {

// Calls f(flops of a task, number of tasks with those FLOPs) over the job's tasks.
template <typename F>
void ForEachTaskFlops(const JobSpec& spec, F f) {
  if (spec.kind == JobKind::kTrain) {
    f(TaskFlops(spec, 0), u128{spec.train.workers} * spec.train.rounds);
    return;
  }
  for (uint32_t s = 0; s < spec.infer.shards; ++s) f(TaskFlops(spec, s), u128{1});
}

}  // namespace

MicroPlume AddMicroPlume(MicroPlume a, MicroPlume b) {
  MicroPlume sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) {
    return b > 0 ? std::numeric_limits<MicroPlume>::max() : std::numeric_limits<MicroPlume>::min();
  }
  return sum;
}

uint64_t RoyaltyTokensPerTask(const JobSpec& spec) {
  if (spec.kind != JobKind::kTrain || spec.dataset.empty()) return 0;
  return Saturate(u128{spec.train.local_steps} * spec.train.batch * spec.train.seq_len);
}

MicroPlume RoyaltyPerTaskMicroPlume(const JobSpec& spec) {
  constexpr u128 kMax = std::numeric_limits<MicroPlume>::max();
  // The data component's rate unit: micro-PLUME per million tokens (data/limits.h).
  const u128 royalty =
      u128{RoyaltyTokensPerTask(spec)} * spec.royalty_micro_plume_per_mtoken / 1'000'000;
  return static_cast<MicroPlume>(royalty > kMax ? kMax : royalty);
}

MicroPlume MaxJobCostMicroPlume(const JobSpec& spec) {
  constexpr u128 kMax = std::numeric_limits<MicroPlume>::max();
  u128 total = 0;
  const u128 royalty = static_cast<u128>(RoyaltyPerTaskMicroPlume(spec));
  ForEachTaskFlops(spec, [&](uint64_t flops, u128 count) {
    const auto cost = ledger::CostWithFee(
        static_cast<uint64_t>(std::max<MicroPlume>(0, spec.max_price_micro_plume_per_pflop)),
        flops, spec.fee_bps);
    total += cost ? (static_cast<u128>(cost->value()) + royalty) * count : kMax;
  });
  return static_cast<MicroPlume>(total > kMax ? kMax : total);
}

MicroPlume VerificationRunCostMicroPlume(const JobSpec& spec, uint64_t flops) {
  const auto cost = ledger::CostWithFee(
      static_cast<uint64_t>(std::max<MicroPlume>(0, spec.max_price_micro_plume_per_pflop)), flops,
      spec.fee_bps);
  return cost ? cost->value() : std::numeric_limits<MicroPlume>::max();
}

MicroPlume VerificationReserveMicroPlume(const JobSpec& spec) {
  constexpr u128 kMax = std::numeric_limits<MicroPlume>::max();
  u128 runs = 0;
  ForEachTaskFlops(spec, [&](uint64_t flops, u128 count) {
    runs += static_cast<u128>(VerificationRunCostMicroPlume(spec, flops)) * count;
  });
  if (runs > kMax) return static_cast<MicroPlume>(kMax);
  const u128 reserve = runs * spec.verification_reserve_bps / 10'000;
  return static_cast<MicroPlume>(reserve > kMax ? kMax : reserve);
}

MicroPlume JobHoldMicroPlume(const JobSpec& spec) {
  return AddMicroPlume(MaxJobCostMicroPlume(spec), VerificationReserveMicroPlume(spec));
}

uint64_t JobFlops(const JobSpec& spec) {
  u128 total = 0;
  ForEachTaskFlops(spec, [&](uint64_t flops, u128 count) { total += u128{flops} * count; });
  return Saturate(total);
}

TaskNeeds NeedsOf(const JobSpec& spec) {
  // A rough upper estimate in fp32: training keeps weights, gradients and two AdamW moments
  // (16 bytes per parameter) plus activations; inference keeps weights and the KV cache.
  const ModelConfig& m = spec.model;
  const u128 params = ParamCount(m);
  u128 bytes = 0;
  if (spec.kind == JobKind::kTrain) {
    const u128 tokens = u128{spec.train.batch} * spec.train.seq_len;
    const u128 per_token = u128{m.n_layer} * (16 * u128{m.n_embd} + 2 * u128{m.n_head} *
                                              spec.train.seq_len) + 2 * u128{m.vocab};
    bytes = 16 * params + 4 * tokens * per_token;
  } else {
    bytes = 4 * params + 8 * u128{m.n_layer} * m.context * m.n_embd;
  }
  return TaskNeeds{Saturate(bytes), spec.backend, spec.max_price_micro_plume_per_pflop};
}

Status ValidateSpec(const JobSpec& spec) {
  if (auto st = CheckModel(spec.model); !st) return st;
  if (spec.data_blobs.empty() || spec.data_blobs.size() > kDataBlobsMax) {
    return Fail("data: a job needs 1.." + std::to_string(kDataBlobsMax) +
                " data blobs (upload the data before submitting)");
  }
  for (const BlobHash& h : spec.data_blobs) {
    if (!IsBlobHash(h)) return Fail("data: '" + h + "' is not a 64-hex-digit blob hash");
  }
  if (auto st = spec.kind == JobKind::kTrain ? CheckTrain(spec) : CheckInfer(spec); !st) {
    return st;
  }
  if (spec.max_price_micro_plume_per_pflop <= 0) {
    return Fail("payment.max_price_micro_plume_per_pflop must be > 0");
  }
  if (spec.fee_bps > ledger::kFeeBpsMax) return Fail("the network fee is over 10000 basis points");
  for (uint32_t s = 0; s < ShardCount(spec); ++s) {
    if (TaskFlops(spec, s) > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Fail("a task of this job is too large to bill: shrink the model or the task");
    }
  }
  const MicroPlume need = MaxJobCostMicroPlume(spec);
  if (need == std::numeric_limits<MicroPlume>::max() ||
      JobHoldMicroPlume(spec) == std::numeric_limits<MicroPlume>::max()) {  // not a real amount
    return Fail("this job's maximum cost does not fit in 64 bits of micro-PLUME: lower "
                "payment.max_price_micro_plume_per_pflop or shrink the job");
  }
  if (spec.budget_micro_plume < need) {
    return Fail("payment.budget_micro_plume is " + std::to_string(spec.budget_micro_plume) +
                " but the job may cost up to " + std::to_string(need) + " micro-PLUME (" +
                std::to_string(JobFlops(spec)) + " FLOPs at the maximum price plus the " +
                std::to_string(spec.fee_bps) + " bps network fee): raise the budget or shrink "
                "the job");
  }
  return {};
}

double InferTokensPerSec(std::span<const Task* const> shards) {
  uint64_t tokens = 0;
  int64_t first_ms = INT64_MAX, last_ms = INT64_MIN;
  for (const Task* t : shards) {
    if (t->state != TaskState::kSucceeded) continue;
    tokens += t->metrics.tokens;
    first_ms = std::min(first_ms, t->assigned_at_ms);
    last_ms = std::max(last_ms, t->finished_at_ms);
  }
  if (tokens == 0 || last_ms <= first_ms) return 0;
  return static_cast<double>(tokens) * 1000.0 / static_cast<double>(last_ms - first_ms);
}

}  // namespace plume::scheduler
