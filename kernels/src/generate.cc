// Generate: autoregressive sampling with the byte tokenizer. Each new token reruns the model on
// the (context-cropped) sequence; there is no KV cache, which keeps generation on exactly the
// training graph (the ops of ops.h) at the price of O(T) recomputation per token.
#include <algorithm>

#include "plume/kernels/rng.h"
#include "plume/kernels/sampler.h"
#include "plume/kernels/tokenizer.h"
#include "runner_internal.h"
#include "status_macros.h"

namespace plume::kernels {

Result<std::vector<Completion>> Generate(const ModelConfig& config, std::span<const float> params,
                                         const std::vector<std::string>& prompts,
                                         const GenerateConfig& generate, Ops& ops) {
  PLUME_RETURN_IF_ERROR(generate.Validate());
  if (config.vocab > kByteVocab) {
    return Fail("model.vocab = " + std::to_string(config.vocab) +
                ": generation uses the byte tokenizer, which needs vocab <= 256");
  }
  PLUME_ASSIGN_OR_RETURN(auto model, Gpt::Create(config, ops));
  PLUME_RETURN_IF_ERROR(model->SetParams(params));
  const SampleParams sample{generate.temperature, generate.top_k};
  std::vector<Completion> out;
  out.reserve(prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    Completion c;
    c.index = generate.first_index + static_cast<int64_t>(i);
    c.prompt = prompts[i];
    std::vector<int32_t> tokens = EncodeBytes(prompts[i].empty() ? "\n" : prompts[i]);
    PLUME_RETURN_IF_ERROR(CheckTokenRange(tokens, config.vocab, "prompt"));
    const size_t prompt_len = tokens.size();
    SplitMix64 rng(DeriveSeed(generate.seed, static_cast<uint64_t>(c.index)));
    for (int n = 0; n < generate.max_new_tokens; ++n) {
      const size_t T = std::min<size_t>(tokens.size(), static_cast<size_t>(config.context));
      const std::span<const int32_t> window(tokens.data() + tokens.size() - T, T);
      PLUME_RETURN_IF_ERROR(model->Forward(window, {}, 1, static_cast<int>(T)));
      PLUME_ASSIGN_OR_RETURN(const auto logits, model->LogitsAt(0, static_cast<int>(T) - 1));
      tokens.push_back(SampleToken(logits, sample, rng));
    }
    PLUME_ASSIGN_OR_RETURN(c.completion,
                           DecodeBytes(std::span(tokens).subspan(prompt_len)));
    c.tokens = static_cast<int>(tokens.size() - prompt_len);
    out.push_back(std::move(c));
  }
  return out;
}

}  // namespace plume::kernels
