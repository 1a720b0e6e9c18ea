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

}  // namespace plume::kernels
