// The DiLoCo outer step, as pure math: the scheduler applies it to finish a round
// (reactor_aggregate.cc) and `plume audit` replays it to recheck a round's checkpoint
// (cli/src/audit_provenance.cc). One implementation, so the replay is bit-identical to what the
// scheduler stored when both run the same build.
//
//   avg   = sum_w (weight_w * delta_w) / sum_w weight_w      delta_w = worker params - round params
//   g     = -avg                                              the outer "gradient"
//   m_r   = mu * m_{r-1} + g                                  m_{-1} = 0
//   theta = theta_r - lr * (g + mu * m_r)                     Nesterov
//
// The sum is accumulated in double, in the order the deltas are added (worker order), and the
// results are rounded to float once; a caller that adds the same deltas in the same order gets
// the same bits. Not thread-safe; one object per round.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "plume/protocol/error.h"

namespace plume::scheduler {

// The step on a range of parameters, in two halves. OuterStep runs them on the whole model; the
// scheduler's streamed step (reactor_aggregate.cc) on 1 MiB pieces of it, so that it never holds
// the model. Both call these out-of-line functions, so the compiled arithmetic, and the bits, are
// the same.
// sum[i] += weight * delta[i]; sizes equal.
void AccumulateDelta(std::span<double> sum, std::span<const float> delta, double weight);
// params and momentum (theta_{r+1}, m_r) from the weighted sum, the total weight, theta_r and
// m_{r-1} (empty: zeros); every non-empty span has sum.size() elements.
void ApplyOuterStep(std::span<const double> sum, double total_weight,
                    std::span<const float> theta, std::span<const float> momentum_prev,
                    double outer_lr, double outer_momentum, std::span<float> params,
                    std::span<float> momentum);

struct OuterStepResult {
  std::vector<float> params;    // theta_{r+1}
  std::vector<float> momentum;  // m_r, which the next round's step reads
};

class OuterStep {
 public:
  // n: the number of parameters of the model.
  explicit OuterStep(size_t n) : sum_(n, 0.0) {}

  // Adds one worker's delta (n floats) with its weight (the tokens it was trained on). Deltas
  // are held only as their weighted sum, so a caller may load them one at a time.
  Status AddDelta(std::span<const float> delta, uint64_t weight);

  // theta: the round's starting parameters; momentum_prev: m_{r-1}, empty for round 0 (zeros).
  // Fails when no weight was added or a size differs from n.
  Result<OuterStepResult> Finish(std::span<const float> theta, std::span<const float> momentum_prev,
                                 double outer_lr, double outer_momentum) const;

  size_t deltas() const { return deltas_; }

 private:
  std::vector<double> sum_;
  double total_weight_ = 0;
  size_t deltas_ = 0;
};

}  // namespace plume::scheduler
