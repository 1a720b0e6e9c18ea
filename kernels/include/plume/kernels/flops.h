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
// Generation is billed as an implementation with a KV cache would cost, whatever the agent
// actually runs: every position fed to the model (the prompt and every generated token except
// the last, P + N - 1 positions) costs 2 * M + 4 * L * C * p FLOPs, where p is the number of
// keys it attends to (its 1-based position, at most context).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "plume/kernels/config.h"

namespace plume::kernels {

// Multiply-accumulates per token of the weight matmuls (M above). Requires a valid config.
int64_t MatmulMacsPerToken(const ModelConfig& config);
// Forward (inference) FLOPs per token for sequences of length seq_len (1 <= seq_len).
int64_t InferenceFlopsPerToken(const ModelConfig& config, int seq_len);
// Training (forward + backward) FLOPs per token for sequences of length seq_len.
int64_t TrainFlopsPerToken(const ModelConfig& config, int seq_len);
// Training FLOPs of `steps` steps of `batch` sequences of seq_len tokens.
int64_t TrainFlops(const ModelConfig& config, int seq_len, int64_t batch, int64_t steps);

// Generation FLOPs of one prompt of prompt_tokens (>= 1) followed by new_tokens samples.
int64_t GenerationFlops(const ModelConfig& config, int64_t prompt_tokens, int64_t new_tokens);

// What one task is billed for. The scheduler (escrow, settle) and the agent (the FLOPs it
// signs in its ledger receipt) both call these on the task's own numbers, so a receipt is
// paid only when the two sides computed the same work independently.
//
// Tokens a prompt is billed for: its bytes (the byte tokenizer), at least one because
// Generate feeds "\n" for an empty prompt.
int64_t PromptTokens(std::string_view prompt);
// An inference task: GenerationFlops of each prompt (given by its token count), new_tokens
// each.
int64_t InferTaskFlops(const ModelConfig& config, std::span<const int64_t> prompt_tokens,
                       int64_t new_tokens);
// A training task (one DiLoCo worker round) is TrainFlops(config, seq_len, batch, local_steps).

}  // namespace plume::kernels
