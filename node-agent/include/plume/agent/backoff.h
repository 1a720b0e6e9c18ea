// Exponential backoff with jitter for reconnecting to a lost scheduler. Pure: the caller owns
// the clock; the jitter comes from a seeded generator so tests can pin it.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace plume::agent {

class Backoff {
 public:
  Backoff(std::chrono::milliseconds first, std::chrono::milliseconds max, uint64_t seed);

  // The wait before the next attempt: the current step with jitter in [step/2, step], after
  // which the step doubles (up to max). Never zero, never above max.
  std::chrono::milliseconds Next();
  // Call after a success so the next loss starts again from `first`.
  void Reset();
  int attempts() const { return attempts_; }

 private:
  std::chrono::milliseconds first_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds step_;
  int attempts_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace plume::agent
