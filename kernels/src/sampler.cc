// Greedy and temperature/top-k sampling on the host. Probabilities are computed in double from
// the logits so that the only platform dependence left is std::exp's last bit.
#include "plume/kernels/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace plume::kernels {

int32_t SampleToken(std::span<const float> logits, const SampleParams& params, SplitMix64& rng) {
  const int V = static_cast<int>(logits.size());
  if (params.temperature <= 0.0f) {
    // max_element returns the first maximum: ties go to the lower id.
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  std::vector<int32_t> ids(V);
  std::iota(ids.begin(), ids.end(), 0);
  const auto more_likely = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  int k = (params.top_k > 0 && params.top_k < V) ? params.top_k : V;
  // A total order (value, then id) makes the kept set independent of the sort algorithm.
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(), more_likely);
  const double max_logit = logits[ids[0]];
  std::vector<double> weights(k);
  double total = 0.0;
  for (int i = 0; i < k; ++i) {
    weights[i] = std::exp((logits[ids[i]] - max_logit) / params.temperature);
    total += weights[i];
  }
  if (params.top_p < 1.0f) {
    // Nucleus: the shortest prefix (most likely first) holding top_p of the mass, summed in
    // that order, at least one token.
    const double target = static_cast<double>(std::max(params.top_p, 0.0f)) * total;
    double mass = weights[0];
    int keep = 1;
    while (keep < k && mass < target) mass += weights[keep++];
    k = keep;
    total = mass;
  }
  const double u = rng.Uniform() * total;
  double cumulative = 0.0;
  for (int i = 0; i < k; ++i) {
    cumulative += weights[i];
    if (u < cumulative) return ids[i];
  }
  return ids[k - 1];  // u rounded up to the total
}

}  // namespace plume::kernels
