// The shape of a GPT model (GPT-2 architecture). Shared by the model (gpt.h), checkpoints,
// FLOP accounting, the job spec and the network, so it is a plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plume/kernels/error.h"

namespace plume::kernels {

// The vocabulary is padded to a multiple of this many rows so the lm-head matmul has friendly
// sizes (50257 -> 50304 for GPT-2). Padded rows are zero, get zero gradients, and are never
// written to checkpoints.
inline constexpr int kVocabPadMultiple = 128;

// Hard bounds that keep every size computation far from int overflow (activation element
// counts are products of these); a config beyond them is rejected by Validate().
inline constexpr int kMaxLayers = 256;
inline constexpr int kMaxEmbd = 16384;
inline constexpr int kMaxContext = 65536;
inline constexpr int kMaxVocab = 1 << 20;

struct ModelConfig {
  int n_layer = 0;
  int n_head = 0;
  int n_embd = 0;
  int context = 0;  // maximum sequence length (rows of wpe)
  int vocab = 256;  // real vocabulary size

  int padded_vocab() const {
    return (vocab + kVocabPadMultiple - 1) / kVocabPadMultiple * kVocabPadMultiple;
  }
  int head_size() const { return n_head > 0 ? n_embd / n_head : 0; }

  // Number of floats in the flat parameter buffer (padded vocabulary included); see gpt.h for
  // the order. Requires a valid config.
  int64_t NumParams() const;
  // Parameters of the real model, as Hugging Face counts them (padding rows excluded).
  int64_t NumRealParams() const;

  // Checks every field; the error names the field ("model.n_embd: 100 is not divisible by
  // model.n_head = 3").
  Status Validate() const;

  friend bool operator==(const ModelConfig&, const ModelConfig&) = default;
};

enum class LrSchedule { kCosine, kConstant };

// Hyper-parameters of a local training run (the [train] table of the job spec, docs/job-spec.md).
struct TrainConfig {
  int64_t steps = 0;  // AdamW steps to run in this call
  int batch = 0;
  int seq_len = 0;    // <= ModelConfig::context
  float lr = 3e-4f;   // peak learning rate
  float min_lr = 0.0f;
  int64_t warmup_steps = 0;
  LrSchedule schedule = LrSchedule::kCosine;
  float weight_decay = 0.0f;
  float grad_clip = 1.0f;  // 0 disables clipping
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  int64_t eval_every = 0;  // 0 disables periodic evaluation
  int eval_batches = 8;    // batches per evaluation (fixed windows, see runner.h)
  uint64_t seed = 0;       // initialisation (when no initial params) and batch sampling
  // The learning-rate schedule may span more steps than this call runs (DiLoCo rounds): step i
  // of this call uses the schedule at first_step + i of schedule_steps (0 = first_step + steps).
  int64_t first_step = 0;
  int64_t schedule_steps = 0;

  // Checks ranges and seq_len <= model.context; errors name the field ("train.batch: ...").
  Status Validate(const ModelConfig& model) const;
  // The learning rate at global step `step` (0-based): linear warmup, then cosine to min_lr
  // (or constant).
  float LearningRate(int64_t step) const;
};

inline constexpr int kMaxStopSequences = 16;
inline constexpr int kMaxStopSequenceBytes = 256;

// Sampling settings of generation (the [infer] table).
struct GenerateConfig {
  int max_new_tokens = 200;
  float temperature = 0.8f;  // 0 = greedy
  int top_k = 40;            // 0 = no cut
  float top_p = 1.0f;        // nucleus sampling; 1 = no cut (sampler.h)
  // Generation of a prompt stops when its text contains one of these (the completion ends before
  // it; finish reason "stop"), as it does at the tokenizer's end-of-text token. At most
  // kMaxStopSequences, each 1..kMaxStopSequenceBytes bytes.
  std::vector<std::string> stop;
  uint64_t seed = 0;
  // Global index of prompts[0]: each prompt's sampler is seeded from (seed, its global index), so
  // splitting the prompts over several agents yields the same text as one run.
  int64_t first_index = 0;
  // Sequences decoded together (continuous batching, runner.h Generate). Speed and memory only:
  // the text of a prompt does not depend on it.
  int batch = 16;
  Status Validate() const;
};

}  // namespace plume::kernels
