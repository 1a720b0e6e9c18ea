// Next-token sampling for generation, on the host, from one row of logits: greedy
// (temperature 0) or temperature + top-k with an explicit PRNG, so the same logits and the same
// seed give the same token on every platform.
#pragma once

#include <cstdint>
#include <span>

#include "plume/kernels/rng.h"

namespace plume::kernels {

struct SampleParams {
  float temperature = 1.0f;  // 0 (or below) = greedy
  int top_k = 0;             // 0 = no cut; otherwise keep the k most likely tokens
};

// logits: the real vocabulary (size >= 1). Ties are broken towards the lower token id.
// Consumes exactly one draw from rng unless greedy.
int32_t SampleToken(std::span<const float> logits, const SampleParams& params, SplitMix64& rng);

}  // namespace plume::kernels
