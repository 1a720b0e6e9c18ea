// Model FLOP accounting. The network bills work from these numbers (never from what an agent
// reports), so they are exact integer functions of the config and the sequence length.
//
// Convention (documented in full here because money depends on it):
//   M = L * 12 * C^2 + V * C      -- multiply-accumulates per token of every weight matmul:
//                                    qkv (3C^2), attention projection (C^2), MLP up (4C^2) and
//                                    down (4C^2) in each of L layers, plus the tied lm head over
//                                    the REAL vocabulary V (padding is an implementation detail
//                                    and is not billed). Biases, LayerNorm, GELU, embeddings and
//                                    softmax are not counted (they are O(C) per token).
//   A(T) = L * 2 * C * (T + 1)    -- causal attention per token, averaged over a sequence of
//                                    length T: position t (1-based) does q.k and p.v over t keys,
//                                    2 * C * t multiply-adds, so a sequence costs
//                                    L * 2 * C * T (T + 1) / 2 * 2 FLOPs = T * A(T) FLOPs.
//   forward  FLOPs per token = 2 * M + A(T)      (one multiply-add = 2 FLOPs)
//   training FLOPs per token = 3 * (2 * M + A(T)) (backward = 2 x forward)
//                            = 6 * M + 3 * A(T)
// These match the usual "6N + attention" rule with N = M.
//
// Generation is billed as the KV-cache implementation (gpt_decode.cc, generate.cc) runs it, so a
// provider is paid for the work a cache needs and no more (docs/inference.md):
//   - the prompt's window (its last min(P, context) tokens) is prefilled: each of those positions
//     p = 1..l0 costs 2 * L * 12 * C^2 (the weight matmuls without the lm head) + 4 * L * C * p
//     (q.k and p.v over its p keys);
//   - every generated token but the last is fed back: one position whose keys are its 1-based
//     place in the window, or, when the window is full (it holds `context` positions), a slide:
//     the window restarts from its last SlideKeep(context) tokens, the new one included, and
//     those are prefilled again (positions 1..keep, as above) -- GenerationWindow below;
//   - every generated token costs one lm-head row over the real vocabulary: 2 * V * C.
// Sampling happens on the host and is not counted. A completion that stops early (end of text,
// stop sequence) is still billed for max_new_tokens: the price is fixed when the task is
// assigned, before anyone knows where it will stop. FLOPs done (the agent's report, metrics)
// use the tokens actually generated.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "plume/kernels/config.h"

namespace plume::kernels {

class Tokenizer;

// Multiply-accumulates per token of the weight matmuls (M above). Requires a valid config.
int64_t MatmulMacsPerToken(const ModelConfig& config);
// Forward (inference) FLOPs per token for sequences of length seq_len (1 <= seq_len).
int64_t InferenceFlopsPerToken(const ModelConfig& config, int seq_len);
// Training (forward + backward) FLOPs per token for sequences of length seq_len.
int64_t TrainFlopsPerToken(const ModelConfig& config, int seq_len);
// Training FLOPs of `steps` steps of `batch` sequences of seq_len tokens.
int64_t TrainFlops(const ModelConfig& config, int seq_len, int64_t batch, int64_t steps);

// The sliding context window of generation. When a sequence outgrows the model's context, the
// window does not move one token per step (that would re-run the whole window for every token,
// since GPT-2's position embeddings are absolute and every cached key would change); it jumps:
// when a new token finds the window full (`context` tokens), the window restarts from the last
// SlideKeep(context) tokens (half the context, rounded up, the new token included), which are
// prefilled at positions 0..keep-1; the cache then grows again until full. So the model always
// sees between keep and context tokens once the text is longer than the context, and the
// re-prefill costs about one extra position per generated token on average.
inline constexpr int SlideKeep(int context) { return context - context / 2; }
// How many tokens the model sees (the window, which ends at the last token) when it predicts the
// token after the first `length` tokens of a sequence whose prompt has prompt_tokens tokens
// (length >= prompt_tokens >= 1, context >= 1). At length = prompt_tokens it is
// min(prompt_tokens, context); each further token adds one, until a slide (above).
int64_t GenerationWindow(int context, int64_t prompt_tokens, int64_t length);

// Generation FLOPs of one prompt of prompt_tokens (>= 1) followed by new_tokens samples, as
// described above; 0 when new_tokens <= 0 (nothing runs).
int64_t GenerationFlops(const ModelConfig& config, int64_t prompt_tokens, int64_t new_tokens);

// What one task is billed for. The scheduler (escrow, settle) and the agent (the FLOPs it
// signs in its ledger receipt) both call these on the task's own numbers, so a receipt is
// paid only when the two sides computed the same work independently.
//
// Tokens a prompt is billed for: its encoding by the job's tokenizer, at least one because
// Generate feeds one token ("\n" or the end-of-text token) for an empty prompt. The first form
// is the byte tokenizer's (the prompt's bytes).
int64_t PromptTokens(std::string_view prompt);
int64_t PromptTokens(const Tokenizer& tokenizer, std::string_view prompt);
// An inference task: GenerationFlops of each prompt (given by its token count), new_tokens
// each.
int64_t InferTaskFlops(const ModelConfig& config, std::span<const int64_t> prompt_tokens,
                       int64_t new_tokens);
// A training task (one DiLoCo worker round) is TrainFlops(config, seq_len, batch, local_steps).

}  // namespace plume::kernels
