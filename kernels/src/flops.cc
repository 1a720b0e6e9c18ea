// FLOP accounting; the convention is documented in flops.h.
#include "plume/kernels/flops.h"

namespace plume::kernels {

int64_t MatmulMacsPerToken(const ModelConfig& config) {
  const int64_t C = config.n_embd;
  return int64_t{config.n_layer} * 12 * C * C + int64_t{config.vocab} * C;
}

int64_t InferenceFlopsPerToken(const ModelConfig& config, int seq_len) {
  const int64_t attention = int64_t{config.n_layer} * 2 * config.n_embd * (int64_t{seq_len} + 1);
  return 2 * MatmulMacsPerToken(config) + attention;
}

int64_t TrainFlopsPerToken(const ModelConfig& config, int seq_len) {
  return 3 * InferenceFlopsPerToken(config, seq_len);
}

int64_t TrainFlops(const ModelConfig& config, int seq_len, int64_t batch, int64_t steps) {
  return TrainFlopsPerToken(config, seq_len) * seq_len * batch * steps;
}

int64_t GenerationFlops(const ModelConfig& config, int64_t prompt_tokens, int64_t new_tokens) {
  const int64_t positions = prompt_tokens + new_tokens - 1;
  if (positions < 1) return 0;
  // Sum over p = 1..positions of min(p, context): a triangle, then a flat part.
  const int64_t ramp = positions < config.context ? positions : config.context;
  const int64_t keys = ramp * (ramp + 1) / 2 + (positions - ramp) * int64_t{config.context};
  return positions * 2 * MatmulMacsPerToken(config) +
         4 * int64_t{config.n_layer} * config.n_embd * keys;
}

int64_t PromptTokens(std::string_view prompt) {
  return prompt.empty() ? 1 : static_cast<int64_t>(prompt.size());
}

int64_t InferTaskFlops(const ModelConfig& config, std::span<const int64_t> prompt_tokens,
                       int64_t new_tokens) {
  int64_t total = 0;
  for (const int64_t p : prompt_tokens) total += GenerationFlops(config, p, new_tokens);
  return total;
}

}  // namespace plume::kernels
