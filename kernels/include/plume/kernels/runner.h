// The local runner: the ONE code path that trains, evaluates and generates on this machine's
// backend. `plume run-local` calls RunLocal(); the node agent calls TrainShard() (or
// TrainShardOnCudaDevices() for several local GPUs), Evaluate() and Generate() for its tasks.
//
// Determinism: given the same inputs (params, tokens, config, seed) and the same backend and
// device, every function returns bit-identical results. Batches are drawn from the seed (random
// window offsets into the token stream, splitmix64), never from a clock or global state.
//
// Threading: each call uses the given Ops from the calling thread only; ProgressFn and CancelFn
// are invoked on that thread, between steps. No call throws; errors are values.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "plume/kernels/config.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/gradient_reducer.h"
#include "plume/kernels/job_spec.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/tokenizer.h"

namespace plume::kernels {

struct StepProgress {
  int64_t step = 0;   // 1-based, within this call
  int64_t steps = 0;  // total in this call
  float loss = 0.0f;  // train loss of this step (nats/token)
  float lr = 0.0f;
  float grad_norm = 0.0f;
  double tokens_per_s = 0.0;       // average since the start of the call
  std::chrono::duration<double> elapsed{};
  std::optional<float> val_loss;   // set on evaluation steps (train.eval_every)
};
using ProgressFn = std::function<void(const StepProgress&)>;
// Polled between steps; returning true stops the run with an error "cancelled".
using CancelFn = std::function<bool()>;

// Commitments (a hash chain of the training state, made by the node agent; the kernels only
// show it the state): `fn` is called on the training thread with the state after step `step`
// (1-based, of train.steps) for every step that is a multiple of `every` and for the last step.
// An error from `fn` stops the training with that error. every <= 0 or no fn: never called.
// Costs one device-to-host copy of params and moments per call.
struct CommitHook {
  int64_t every = 0;
  std::function<Status(int64_t step, const TrainState& state)> fn;
};

struct TrainOutput {
  std::vector<float> params;       // final parameters (layout of param_layout.h)
  std::vector<float> losses;       // train loss of every step
  float last_train_loss = 0.0f;
  std::optional<float> val_loss;   // final evaluation on val_tokens; empty if none were given
  int64_t tokens = 0;              // training tokens processed (steps * batch * seq_len)
  int64_t flops = 0;               // TrainFlops() of the work done (flops.h)
};

// Runs train.steps AdamW steps from init_params (empty: GPT-2 init from train.seed), on windows
// of seq_len + 1 tokens drawn from train_tokens (which needs at least seq_len + 1 tokens; every
// token < model.vocab), then evaluates on val_tokens if non-empty. The AdamW moments start at
// zero. Preconditions are checked and reported as errors.
Result<TrainOutput> TrainShard(const ModelConfig& model, const TrainConfig& train,
                               std::span<const float> init_params,
                               std::span<const int32_t> train_tokens,
                               std::span<const int32_t> val_tokens, Ops& ops,
                               const ProgressFn& progress = {}, const CancelFn& cancel = {},
                               const CommitHook& commit = {});

// Steps [first, last) of the training that `train` describes (0 <= first < last <= train.steps),
// from `start`, the state after step `first` (for first = 0: the starting parameters and zero
// moments). Runs them exactly as TrainShard does (the same batches, learning rates and AdamW
// step counts; TrainShard runs through this same code path), so within a kernel class the state
// returned is bit-identical to the full run's after step `last`. Commit points inside the range
// are reported to `commit` as in TrainShard. No evaluation. This is what a referee replays.
Result<TrainState> TrainSegment(const ModelConfig& model, const TrainConfig& train,
                                const TrainState& start, int64_t first, int64_t last,
                                std::span<const int32_t> train_tokens, Ops& ops,
                                const CommitHook& commit = {}, const CancelFn& cancel = {});

// Data parallelism inside one worker (several local GPUs acting as one): the same training as
// above, with every step's batch (drawn exactly as on one device) split by rows across the
// replicas, one per Ops, in order: B / D rows each, the first B % D replicas one more (B must be
// at least D). Each replica computes the gradient of its rows, `reducer` averages them (weighted
// by rows, so the result is the full-batch gradient up to float rounding), and every replica
// clips by the global norm of that average and steps AdamW identically. The reported loss is
// the row-weighted mean over replicas; params are replica 0's, checked bit-equal to the others
// at the end. With one Ops this is exactly the single-device TrainShard above (bit-identical).
// The Ops must share one backend; CUDA replicas compute in one thread each, CPU ones in order.
// Determinism: as above, given a deterministic reducer (gradient_reducer.h) and a fixed D.
Result<TrainOutput> TrainShard(const ModelConfig& model, const TrainConfig& train,
                               std::span<const float> init_params,
                               std::span<const int32_t> train_tokens,
                               std::span<const int32_t> val_tokens, std::span<Ops* const> replicas,
                               GradientReducer& reducer, const ProgressFn& progress = {},
                               const CancelFn& cancel = {}, const CommitHook& commit = {});

// The node agent's entry point for "all these CUDA devices as one worker": opens CudaOps on
// each device ordinal, averages gradients with NCCL (the host reducer in a build without NCCL)
// and calls the TrainShard above. One device: the plain single-device TrainShard.
Result<TrainOutput> TrainShardOnCudaDevices(
    const ModelConfig& model, const TrainConfig& train, std::span<const float> init_params,
    std::span<const int32_t> train_tokens, std::span<const int32_t> val_tokens,
    const std::vector<int>& devices, const ProgressFn& progress = {}, const CancelFn& cancel = {},
    const CommitHook& commit = {});

struct EvalConfig {
  int batch = 8;
  int seq_len = 64;
  int max_batches = 8;
};
// Mean loss (nats/token) over fixed windows: up to max_batches * batch windows of seq_len + 1
// tokens, evenly spaced over `tokens` (always the same windows for the same inputs).
Result<float> Evaluate(const ModelConfig& model, std::span<const float> params,
                       std::span<const int32_t> tokens, const EvalConfig& eval, Ops& ops);

// Why a completion ended: it reached max_new_tokens, or it met the tokenizer's end-of-text
// token or one of the stop sequences.
enum class FinishReason { kLength, kStop };
const char* FinishReasonName(FinishReason reason);  // "length", "stop"

struct Completion {
  int64_t index = 0;       // global prompt index (GenerateConfig::first_index + i)
  std::string prompt;
  // Generated text only: the generated tokens' bytes (may be invalid UTF-8), without an
  // end-of-text token and cut before a stop sequence.
  std::string completion;
  int tokens = 0;         // tokens generated, an end-of-text token or a stop sequence included
  int prompt_tokens = 0;  // the prompt as encoded (an empty prompt is one start token)
  FinishReason finish = FinishReason::kLength;
};

// Optional hooks of a Generate call, both invoked on the calling thread between decode steps.
struct GenerateHooks {
  // Each completion as soon as it is finished (finishing order, not prompt order).
  std::function<void(const Completion&)> on_completion;
  CancelFn cancel;  // returning true stops the call with an error "cancelled"
};

// Generates from each prompt with a KV cache (gpt.h), decoding up to config.batch prompts
// together: a prompt joins the batch when a slot is free (its window is prefilled), leaves it as
// soon as it finishes, and the next waiting prompt takes its slot (continuous batching). An
// empty prompt starts from the tokenizer's end-of-text token, or "\n" when it has none. When the
// text outgrows the model's context the window slides (flops.h GenerationWindow). Prompt i
// samples with seed DeriveSeed(config.seed, first_index + i), and a sequence's arithmetic does
// not depend on the others in its batch, so neither sharding the prompts nor the batch size
// changes any text: within a kernel class the output is bit for bit a function of (model,
// prompt, global index, config without batch). Completions are returned in prompt order.
// The model's vocabulary must not exceed the tokenizer's.
Result<std::vector<Completion>> Generate(const ModelConfig& model, std::span<const float> params,
                                         const std::vector<std::string>& prompts,
                                         const GenerateConfig& config, Ops& ops,
                                         const Tokenizer& tokenizer,
                                         const GenerateHooks& hooks = {});
// The same through a model that already holds its parameters (Gpt::CreateForInference, then
// SetParams), so that a caller can let go of its own copy first; the model's KV cache is
// reserved anew for each call.
Result<std::vector<Completion>> Generate(Gpt& model, const std::vector<std::string>& prompts,
                                         const GenerateConfig& config, const Tokenizer& tokenizer,
                                         const GenerateHooks& hooks = {});
// The same with the byte tokenizer.
Result<std::vector<Completion>> Generate(const ModelConfig& model, std::span<const float> params,
                                         const std::vector<std::string>& prompts,
                                         const GenerateConfig& config, Ops& ops);
// The reference without a cache: one prompt at a time, every token recomputes its whole window
// with Gpt::Forward (the training graph), O(window) work per token. Same windows, sampling,
// stops and seeds as Generate, so the same tokens whenever the logits agree (up to float
// rounding they do; greedy completions match). For tests and benchmarks, not for tasks.
Result<std::vector<Completion>> GenerateWithoutCache(const ModelConfig& model,
                                                     std::span<const float> params,
                                                     const std::vector<std::string>& prompts,
                                                     const GenerateConfig& config, Ops& ops,
                                                     const Tokenizer& tokenizer);

// One line of outputs.jsonl, without the newline: {"index", "prompt", "completion", "tokens",
// "prompt_tokens", "finish_reason"}. Bytes that are not UTF-8 are written as U+FFFD.
std::string CompletionJson(const Completion& c);

struct RunLocalSummary {
  JobKind kind = JobKind::kTrain;
  std::string output_path;       // model.safetensors or outputs.jsonl
  float train_loss = 0.0f;
  std::optional<float> val_loss;
  int64_t tokens = 0;
  int64_t flops = 0;
  int64_t completions = 0;
  std::chrono::duration<double> elapsed{};
};
// `plume run-local`: train -> output_dir/model.safetensors; infer -> output_dir/outputs.jsonl
// (one CompletionJson object per line, in prompt order).
Result<RunLocalSummary> RunLocal(const JobSpec& spec, Ops& ops, const ProgressFn& progress = {});

}  // namespace plume::kernels
