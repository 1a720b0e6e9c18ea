// A tiny self-contained PRNG (splitmix64). Every random choice in the runtime (initialisation,
// batch offsets, sampling) comes from one of these with an explicit seed, so results are the
// same on every platform and standard library (std::mt19937 distributions are not).
#pragma once

#include <cmath>
#include <cstdint>

namespace plume::kernels {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t Next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  // Uniform in [0, 1) with 53 random bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // Uniform integer in [0, bound), bound > 0, without modulo bias (rejection sampling).
  uint64_t Below(uint64_t bound) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x = Next();
    while (x >= limit) x = Next();
    return x % bound;
  }
  // Standard normal (Box-Muller; the second value is discarded to keep the stream simple).
  double Normal() {
    double u1 = Uniform();
    while (u1 <= 0.0) u1 = Uniform();
    const double u2 = Uniform();
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }

 private:
  uint64_t state_;
};

// Derives an independent stream seed from a base seed and a label (e.g. the prompt index), so
// sub-streams do not overlap for nearby labels.
inline uint64_t DeriveSeed(uint64_t seed, uint64_t label) {
  SplitMix64 a(seed ^ (label * 0xD1B54A32D192ED03ull));
  a.Next();
  return a.Next();
}

}  // namespace plume::kernels
