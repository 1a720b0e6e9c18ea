// GELU activation (tanh approximation, as in GPT-2), CPU reference. Sits between c_fc and the
// MLP's c_proj.
//
// Forward:  u = k (x + 0.044715 x^3), k = sqrt(2/pi);  out = 0.5 x (1 + tanh u)
// Backward: dinp += dout * [0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) k (1 + 3 * 0.044715 x^2)]
// Shapes: any, n elements. tanh is FastTanh (absolute error < 3e-7, vectorised).
// The fast_math.h loops vectorise only when the compiler may ignore floating-point exception
// flags, which nothing here reads; results are unchanged (no reassociation is allowed).
#pragma GCC optimize("no-trapping-math")

#include <cmath>

#include "cpu_ops.h"
#include "fast_math.h"

namespace plume::kernels::cpu {
namespace {
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;
}  // namespace

void GeluForwardCpu(float* out, const float* inp, size_t n) {
#pragma omp parallel for schedule(static) if (n >= size_t{kParallelMinWork})
  for (size_t i = 0; i < n; ++i) {
    const float x = inp[i];
    const float u = kSqrt2OverPi * (x + kCubic * x * x * x);
    out[i] = 0.5f * x * (1.0f + FastTanh(u));
  }
}

void GeluBackwardCpu(float* dinp, const float* inp, const float* dout, size_t n) {
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) {
    const float x = inp[i];
    const float u = kSqrt2OverPi * (x + kCubic * x * x * x);
    const float th = FastTanh(u);
    const float du = kSqrt2OverPi * (1.0f + 3.0f * kCubic * x * x);
    const float grad = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du;
    dinp[i] += grad * dout[i];
  }
}

}  // namespace plume::kernels::cpu
