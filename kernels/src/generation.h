// Private to generation: one prompt's state while it is generated, shared by the KV-cache
// engine (generate.cc) and the no-cache reference (generate_reference.cc), so that the two
// differ only in how they obtain logits: the same windows, sampler draws, stops and completion.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "plume/kernels/rng.h"
#include "plume/kernels/runner.h"
#include "plume/kernels/sampler.h"
#include "plume/kernels/tokenizer.h"

namespace plume::kernels {

class Sequence {
 public:
  // Encodes the prompt (an empty one is the end-of-text token, or "\n" without one) and checks
  // its tokens against the model's vocabulary.
  static Result<Sequence> Start(const ModelConfig& model, const GenerateConfig& config,
                                const Tokenizer& tokenizer, int64_t index, std::string prompt);

  // The window the model sees to predict the next token (flops.h GenerationWindow): the last
  // window_size() tokens.
  int64_t window_size() const;
  std::span<const int32_t> window() const;
  int32_t last_token() const { return tokens_.back(); }

  // Samples the next token from its logits (one row of the real vocabulary) and applies the
  // stop rules. An error only if the tokenizer cannot decode the token.
  Status Next(std::span<const float> logits);
  bool done() const { return done_; }
  // Valid once done().
  Completion Finish() const;

 private:
  Sequence(const ModelConfig& model, const GenerateConfig& config, const Tokenizer& tokenizer,
           int64_t index, std::string prompt, std::vector<int32_t> tokens);

  const GenerateConfig* config_;
  const Tokenizer* tokenizer_;
  int context_;
  int64_t index_;
  std::string prompt_;
  std::vector<int32_t> tokens_;  // prompt then generated tokens
  int64_t prompt_len_;
  SplitMix64 rng_;
  // The generated tokens' bytes, decoded token by token as they come (byte-level tokenizers:
  // the concatenation is the decoding of the whole sequence), where stop sequences are sought.
  std::string text_;
  size_t cut_ = std::string::npos;  // where a stop sequence starts in text_
  int generated_ = 0;
  bool done_ = false;
  FinishReason finish_ = FinishReason::kLength;
};

// Sequences for prompts[i] with global index config.first_index + i; checks the config and
// that the model's vocabulary fits the tokenizer.
Result<std::vector<Sequence>> StartSequences(const ModelConfig& model,
                                             const std::vector<std::string>& prompts,
                                             const GenerateConfig& config,
                                             const Tokenizer& tokenizer);

}  // namespace plume::kernels
