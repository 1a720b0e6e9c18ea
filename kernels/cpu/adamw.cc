// AdamW optimizer step (decoupled weight decay), CPU reference. Runs once per training step
// over every parameter tensor.
//
// With gradient g, step t >= 1:
//   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   mhat = m / (1 - b1^t);  vhat = v / (1 - b2^t)
//   p -= lr * (mhat / (sqrt(vhat) + eps) + wd * p)
// Shapes: params, grads, m, v: n elements each.
#include <cmath>

#include "cpu_ops.h"

namespace plume::kernels::cpu {

void AdamWCpu(float* params, const float* grads, float* m, float* v, size_t n, float lr,
              float beta1, float beta2, float eps, float weight_decay, int64_t step) {
  // Bias corrections in double: for b2 = 0.999 and large t, 1 - b2^t in float loses digits.
  const float bc1 = static_cast<float>(1.0 - std::pow(static_cast<double>(beta1), step));
  const float bc2 = static_cast<float>(1.0 - std::pow(static_cast<double>(beta2), step));
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) {
    const float g = grads[i];
    const float mi = beta1 * m[i] + (1.0f - beta1) * g;
    const float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const float mhat = mi / bc1;
    const float vhat = vi / bc2;
    params[i] -= lr * (mhat / (std::sqrt(vhat) + eps) + weight_decay * params[i]);
  }
}

}  // namespace plume::kernels::cpu
