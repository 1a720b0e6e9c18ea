// FLOP accounting; the convention is documented in flops.h.
#include "plume/kernels/flops.h"

#include <algorithm>

#include "plume/kernels/tokenizer.h"

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

int64_t GenerationWindow(int context, int64_t prompt_tokens, int64_t length) {
  const int64_t ctx = context;
  const int64_t first = prompt_tokens < ctx ? prompt_tokens : ctx;
  const int64_t steps = length - prompt_tokens;
  if (first + steps <= ctx) return first + steps;
  const int64_t keep = SlideKeep(context);
  // After the first slide (at step ctx - first + 1) the window cycles keep, keep + 1, ..., ctx.
  return keep + (steps - (ctx - first) - 1) % (ctx - keep + 1);
}

namespace {

// Sum of p for p = a + 1 .. b (0 when b <= a).
int64_t SumRange(int64_t a, int64_t b) { return b > a ? (b * (b + 1) - a * (a + 1)) / 2 : 0; }

}  // namespace

int64_t GenerationFlops(const ModelConfig& config, int64_t prompt_tokens, int64_t new_tokens) {
  if (new_tokens <= 0) return 0;
  const int64_t C = config.n_embd, L = config.n_layer, ctx = config.context;
  const int64_t per_position = 2 * L * 12 * C * C;  // weight matmuls, lm head excluded
  const int64_t per_key = 4 * L * C;                // q.k and p.v for one key
  const int64_t prompt = prompt_tokens < 1 ? 1 : prompt_tokens;
  const int64_t first = prompt < ctx ? prompt : ctx;  // the prefilled window
  const int64_t keep = SlideKeep(config.context);
  // Positions fed and keys attended, walked in closed form: the prefill, the growth to a full
  // window, then whole slide cycles and a partial one.
  int64_t positions = first, keys = SumRange(0, first);
  const int64_t fed = new_tokens - 1;  // tokens fed back after the prefill
  const int64_t grow = fed < ctx - first ? fed : ctx - first;
  positions += grow;
  keys += SumRange(first, first + grow);
  const int64_t rest = fed - grow;
  if (rest > 0) {
    const int64_t period = ctx - keep + 1;  // a slide, then ctx - keep single positions
    const int64_t cycles = rest / period, partial = rest % period;
    positions += cycles * ctx;  // keep (the slide) + ctx - keep
    keys += cycles * (SumRange(0, keep) + SumRange(keep, ctx));
    if (partial > 0) {
      positions += keep + partial - 1;
      keys += SumRange(0, keep) + SumRange(keep, keep + partial - 1);
    }
  }
  return positions * per_position + keys * per_key + new_tokens * 2 * int64_t{config.vocab} * C;
}

int64_t PromptTokens(std::string_view prompt) {
  return prompt.empty() ? 1 : static_cast<int64_t>(prompt.size());
}

int64_t PromptTokens(const Tokenizer& tokenizer, std::string_view prompt) {
  if (prompt.empty()) return 1;
  return std::max<int64_t>(1, static_cast<int64_t>(tokenizer.Encode(prompt).size()));
}

int64_t InferTaskFlops(const ModelConfig& config, std::span<const int64_t> prompt_tokens,
                       int64_t new_tokens) {
  int64_t total = 0;
  for (const int64_t p : prompt_tokens) total += GenerationFlops(config, p, new_tokens);
  return total;
}

}  // namespace plume::kernels
