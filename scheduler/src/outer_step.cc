// The DiLoCo outer step (formula in plume/scheduler/outer_step.h).
#include "plume/scheduler/outer_step.h"

#include <string>

namespace plume::scheduler {

void AccumulateDelta(std::span<double> sum, std::span<const float> delta, double weight) {
  for (size_t i = 0; i < sum.size(); ++i) sum[i] += weight * delta[i];
}

void ApplyOuterStep(std::span<const double> sum, double total_weight,
                    std::span<const float> theta, std::span<const float> momentum_prev,
                    double outer_lr, double outer_momentum, std::span<float> params,
                    std::span<float> momentum) {
  const double lr = outer_lr, mu = outer_momentum;
  for (size_t i = 0; i < sum.size(); ++i) {
    const double g = -sum[i] / total_weight;
    const double m = mu * (momentum_prev.empty() ? 0.0f : momentum_prev[i]) + g;
    momentum[i] = static_cast<float>(m);
    params[i] = static_cast<float>(theta[i] - lr * (g + mu * m));
  }
}

Status OuterStep::AddDelta(std::span<const float> delta, uint64_t weight) {
  if (delta.size() != sum_.size()) {
    return Fail("a worker delta has " + std::to_string(delta.size()) + " parameters, the model " +
                std::to_string(sum_.size()));
  }
  const double w = static_cast<double>(weight);
  AccumulateDelta(sum_, delta, w);
  total_weight_ += w;
  ++deltas_;
  return {};
}

Result<OuterStepResult> OuterStep::Finish(std::span<const float> theta,
                                          std::span<const float> momentum_prev, double outer_lr,
                                          double outer_momentum) const {
  const size_t n = sum_.size();
  if (total_weight_ <= 0) return Fail("round has no weighted deltas");
  if (theta.size() != n) return Fail("the round's parameters do not match the deltas' size");
  if (!momentum_prev.empty() && momentum_prev.size() != n) {
    return Fail("the previous round's momentum does not match the model's size");
  }
  OuterStepResult out;
  out.params.resize(n);
  out.momentum.resize(n);
  ApplyOuterStep(sum_, total_weight_, theta, momentum_prev, outer_lr, outer_momentum, out.params,
                 out.momentum);
  return out;
}

}  // namespace plume::scheduler
