// Next-token sampling for generation, on the host, from one row of logits: greedy
// (temperature 0) or temperature + top-k + top-p (nucleus) with an explicit PRNG, so the same
// logits and the same seed give the same token on every platform.
#pragma once

#include <cstdint>
#include <span>

#include "plume/kernels/rng.h"

namespace plume::kernels {

struct SampleParams {
  float temperature = 1.0f;  // 0 (or below) = greedy
  int top_k = 0;             // 0 = no cut; otherwise keep the k most likely tokens
  // 1 (or above) = no cut; otherwise, after top-k, keep the smallest set of most likely tokens
  // whose probabilities (at this temperature, renormalised over the top k) sum to at least
  // top_p. Always keeps at least the most likely token.
  float top_p = 1.0f;
};

// logits: the real vocabulary (size >= 1). Ties are broken towards the lower token id.
// Consumes exactly one draw from rng unless greedy.
int32_t SampleToken(std::span<const float> logits, const SampleParams& params, SplitMix64& rng);

}  // namespace plume::kernels
