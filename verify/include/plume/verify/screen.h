// Result screens: cheap, pure checks that a task's result blob is a well-formed answer to the
// task it claims to answer, run on every result before it is accepted or paid. No I/O, no
// clock, no threads: bytes and the task's parameters in, a verdict out, so a third party can
// recompute every verdict from the blobs and the job spec.
//
// What a screen proves is only "this cannot be an honest result": a wrong shape, a non-finite
// value, a zero or impossibly large delta, an inference shard that is not the shard's prompts.
// A plausible but wrong result passes; replay audits are what catch that (docs/verification.md).
// The bounds are derived so that an honest result never fails (the derivation is in
// screen_train.cc).
//
// Versioned: kScreenPolicy names the rules; it changes whenever a rule does, so a verdict
// recorded under one policy is never re-checked under another.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "plume/kernels/config.h"

namespace plume::verify {

inline constexpr const char* kScreenPolicy = "screens/1";

enum class Reason : uint8_t {
  kOk = 0,
  kOversized,      // more bytes than any honest result of this task
  kMalformed,      // not a safetensors file (truncated, bad header) / not JSONL of the schema
  kWrongModel,     // the file's model metadata is not the job's model
  kWrongTensor,    // a tensor missing or one the model does not have
  kWrongShape,     // a tensor of the right name with another shape
  kWrongDtype,     // not F32, which is what the kernels write
  kNotFinite,      // NaN or infinity
  kZeroDelta,      // no parameter moved although the task trained with a learning rate > 0
  kNormTooLarge,   // moved further than H AdamW steps can move a parameter
  kWrongCount,     // inference: missing or extra lines
  kOutOfOrder,     // inference: a line of this shard at another position
  kWrongIndex,     // inference: an index outside the shard
  kWrongPrompt,    // inference: the echoed prompt is not the prompt sent
  kTooManyTokens,  // inference: more tokens than max_new_tokens (or than the completion claims)
};
inline constexpr Reason kLastReason = Reason::kTooManyTokens;  // loops over every reason end here
// Stable lower-case name ("not_finite"): the metrics label and the core's refusal code.
const char* Name(Reason r);

struct Verdict {
  Reason reason = Reason::kOk;
  std::string message;  // names the tensor, line or field, for the provider's log
  bool ok() const { return reason == Reason::kOk; }
};

// ---- training: a DiLoCo worker's parameter delta (new - start) as a safetensors checkpoint ----

struct TrainScreen {
  kernels::ModelConfig model;
  // As the agent runs it: steps = H inner steps, the learning-rate schedule (lr, min_lr, warmup,
  // first_step, schedule_steps), weight decay, betas. grad_clip does not enter the bound (AdamW's
  // step does not depend on the gradient's scale), and seed, batch and data do not either.
  kernels::TrainConfig train;
  // max |p| over the round's input parameters (the weight-decay term scales with it).
  double start_params_linf = 0;
};

// Upper bounds on |delta| of one parameter after the task's H steps: for tensors with weight
// decay (2-D matrices) and without (biases, LayerNorm). Includes the slack for float rounding.
struct DeltaBound {
  double linf_decayed = 0;
  double linf_plain = 0;
  double lr_sum = 0;  // sum of the H learning rates; 0 means a zero delta is honest
};
DeltaBound TrainDeltaBound(const TrainScreen& s);

// The largest checkpoint of this model (values plus a generous header): anything bigger is
// refused before it is read.
uint64_t MaxTrainDeltaBytes(const kernels::ModelConfig& model);

Verdict ScreenTrainDelta(std::span<const uint8_t> blob, const TrainScreen& s);

// ---- inference: a shard's outputs.jsonl ----
// One line per prompt, in order: {"index": first_index + i, "prompt": the prompt (invalid UTF-8
// replaced by U+FFFD, as the agent's JSON writer does), "completion": text, "tokens": n,
// "prompt_tokens": p, "finish_reason": "length" | "stop"}, with n <= max_new_tokens and at most
// n x token_bytes_max characters in the completion. p is the prompt's token count (checked
// against prompt_tokens when given); "length" means n = max_new_tokens, "stop" (end-of-text
// token or stop sequence) at least one token. Lines of agents from before prompt_tokens and
// finish_reason existed (the first four keys only) are accepted; one of the two without the
// other is not.

struct InferScreen {
  uint64_t first_index = 0;
  std::vector<std::string> prompts;  // the shard's prompts, as sent in its TaskAssign
  uint32_t max_new_tokens = 0;
  // Each prompt's token count with the job's tokenizer (kernels/flops.h PromptTokens, of the
  // prompt as the agent reads it); empty: not checked.
  std::vector<uint64_t> prompt_tokens;
  uint64_t token_bytes_max = 1;  // the job's tokenizer's longest token, in bytes
  // Each prompt's global index when they are not first_index, first_index + 1, ...: a dispute's
  // referee regenerates only some prompts of a shard (dispute.h). Empty, or one per prompt.
  std::vector<uint64_t> indices;
};

uint64_t MaxInferShardBytes(const InferScreen& s);

Verdict ScreenInferShard(std::span<const uint8_t> blob, const InferScreen& s);

}  // namespace plume::verify
