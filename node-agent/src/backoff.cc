// Reconnect backoff: doubling steps with "equal jitter" so many agents that lost the same
// scheduler do not all come back in the same millisecond.
#include "plume/agent/backoff.h"

#include <algorithm>

namespace plume::agent {

Backoff::Backoff(std::chrono::milliseconds first, std::chrono::milliseconds max, uint64_t seed)
    : first_(std::max(first, std::chrono::milliseconds(1))),
      max_(std::max(max, first_)),
      step_(first_),
      rng_(seed) {}

std::chrono::milliseconds Backoff::Next() {
  const int64_t step = step_.count();
  const int64_t half = std::max<int64_t>(1, step / 2);
  std::uniform_int_distribution<int64_t> jitter(0, step - half);
  const auto wait = std::chrono::milliseconds(half + jitter(rng_));
  step_ = std::min(max_, step_ * 2);
  ++attempts_;
  return wait;
}

void Backoff::Reset() {
  step_ = first_;
  attempts_ = 0;
}

}  // namespace plume::agent
