// AdamW (decoupled weight decay), elementwise over n parameters.
//
//   m = beta1 m + (1 - beta1) g,   v = beta2 v + (1 - beta2) g^2
//   m_hat = m / (1 - beta1^t),     v_hat = v / (1 - beta2^t)
//   param -= lr * (m_hat / (sqrt(v_hat) + eps) + weight_decay * param)
//
// The bias corrections depend only on the step, so the host computes them once.
#include <cmath>
#include <string>

#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void AdamWKernel(float* params, const float* grads, float* m, float* v, size_t n,
                            float lr, float beta1, float beta2, float eps, float weight_decay,
                            float correction1, float correction2) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    float g = grads[i];
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    float m_hat = mi / correction1;
    float v_hat = vi / correction2;
    float p = params[i];
    params[i] = p - lr * (m_hat / (sqrtf(v_hat) + eps) + weight_decay * p);
  }
}

}  // namespace

Status LaunchAdamW(const LaunchContext& ctx, float* params, const float* grads, float* m, float* v,
                   size_t n, const AdamWParams& p) {
  if (p.step < 1) {
    return Fail("AdamW: step must be >= 1 (it is 1-based), got " + std::to_string(p.step));
  }
  if (n == 0) return {};
  // In double: for beta2 near 1 and a large step, 1 - beta2^t loses digits in float.
  float correction1 = static_cast<float>(1.0 - std::pow(static_cast<double>(p.beta1), p.step));
  float correction2 = static_cast<float>(1.0 - std::pow(static_cast<double>(p.beta2), p.step));
  AdamWKernel<<<GridFor(n, kBlock), kBlock, 0, ctx.stream>>>(
      params, grads, m, v, n, p.lr, p.beta1, p.beta2, p.eps, p.weight_decay, correction1,
      correction2);
  CUDA_CHECK_LAUNCH("AdamWKernel");
  return {};
}

}  // namespace plume::kernels::cuda
