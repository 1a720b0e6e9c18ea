// One prompt's generation state (generation.h): prompt encoding, the sliding window, sampling,
// the end-of-text token and stop sequences, and the finished Completion.
#include "generation.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "plume/kernels/flops.h"
#include "runner_internal.h"
#include "status_macros.h"

namespace plume::kernels {

const char* FinishReasonName(FinishReason reason) {
  return reason == FinishReason::kStop ? "stop" : "length";
}

std::string CompletionJson(const Completion& c) {
  const nlohmann::json line = {{"index", c.index},
                               {"prompt", c.prompt},
                               {"completion", c.completion},
                               {"tokens", c.tokens},
                               {"prompt_tokens", c.prompt_tokens},
                               {"finish_reason", FinishReasonName(c.finish)}};
  // Bytes that are not UTF-8 (a byte model can emit them) become U+FFFD, not an exception.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Sequence::Sequence(const ModelConfig& model, const GenerateConfig& config,
                   const Tokenizer& tokenizer, int64_t index, std::string prompt,
                   std::vector<int32_t> tokens)
    : config_(&config),
      tokenizer_(&tokenizer),
      context_(model.context),
      index_(index),
      prompt_(std::move(prompt)),
      tokens_(std::move(tokens)),
      prompt_len_(static_cast<int64_t>(tokens_.size())),
      rng_(DeriveSeed(config.seed, static_cast<uint64_t>(index))) {
  done_ = config.max_new_tokens == 0;
}

Result<Sequence> Sequence::Start(const ModelConfig& model, const GenerateConfig& config,
                                 const Tokenizer& tokenizer, int64_t index, std::string prompt) {
  std::vector<int32_t> tokens;
  if (!prompt.empty()) {
    tokens = tokenizer.Encode(prompt);
  } else if (const auto eot = tokenizer.end_of_text()) {
    tokens = {*eot};
  } else {
    tokens = tokenizer.Encode("\n");
  }
  if (tokens.empty()) return Fail("prompt " + std::to_string(index) + " encodes to no tokens");
  const std::string what = "prompt " + std::to_string(index);
  PLUME_RETURN_IF_ERROR(CheckTokenRange(tokens, model.vocab, what.c_str()));
  return Sequence(model, config, tokenizer, index, std::move(prompt), std::move(tokens));
}

int64_t Sequence::window_size() const {
  return GenerationWindow(context_, prompt_len_, static_cast<int64_t>(tokens_.size()));
}

std::span<const int32_t> Sequence::window() const {
  return std::span<const int32_t>(tokens_).last(static_cast<size_t>(window_size()));
}

Status Sequence::Next(std::span<const float> logits) {
  const SampleParams params{config_->temperature, config_->top_k, config_->top_p};
  const int32_t token = SampleToken(logits, params, rng_);
  tokens_.push_back(token);
  ++generated_;
  const auto eot = tokenizer_->end_of_text();
  if (eot && token == *eot) {
    done_ = true;
    finish_ = FinishReason::kStop;
    return {};
  }
  PLUME_ASSIGN_OR_RETURN(const std::string piece, tokenizer_->Decode(std::span(&token, 1)));
  text_ += piece;
  // A stop sequence that ends in this token starts at most (its length - 1) bytes before it.
  for (const std::string& stop : config_->stop) {
    const size_t reach = piece.size() + stop.size() - 1;
    const size_t from = text_.size() > reach ? text_.size() - reach : 0;
    const size_t at = text_.find(stop, from);
    if (at != std::string::npos && at < cut_) cut_ = at;
  }
  if (cut_ != std::string::npos) {
    done_ = true;
    finish_ = FinishReason::kStop;
  } else if (generated_ >= config_->max_new_tokens) {
    done_ = true;
    finish_ = FinishReason::kLength;
  }
  return {};
}

Completion Sequence::Finish() const {
  Completion c;
  c.index = index_;
  c.prompt = prompt_;
  c.completion = text_.substr(0, cut_);
  c.tokens = generated_;
  c.prompt_tokens = static_cast<int>(prompt_len_);
  c.finish = finish_;
  return c;
}

Result<std::vector<Sequence>> StartSequences(const ModelConfig& model,
                                             const std::vector<std::string>& prompts,
                                             const GenerateConfig& config,
                                             const Tokenizer& tokenizer) {
  PLUME_RETURN_IF_ERROR(config.Validate());
  PLUME_RETURN_IF_ERROR(model.Validate());
  if (model.vocab > tokenizer.vocab_size()) {
    return Fail("model.vocab = " + std::to_string(model.vocab) + ": the tokenizer '" +
                std::string(tokenizer.name()) + "' has only " +
                std::to_string(tokenizer.vocab_size()) +
                " ids, so the model could sample a token "
                "it cannot decode");
  }
  std::vector<Sequence> out;
  out.reserve(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    PLUME_ASSIGN_OR_RETURN(
        auto s, Sequence::Start(model, config, tokenizer,
                                config.first_index + static_cast<int64_t>(i), prompts[i]));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace plume::kernels
