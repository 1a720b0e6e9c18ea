// LayerNorm over the channel dimension, CPU reference. Used before attention, before the MLP
// and at the end of the stack (ln_1, ln_2, ln_f).
//
// Forward, per row x (C values):
//   mean = sum(x)/C,  var = sum((x-mean)^2)/C,  rstd = 1/sqrt(var + 1e-5)
//   n = (x - mean) * rstd,  out = n * weight + bias
// Backward, with g = weight * dout:
//   dinp    += rstd * (g - mean(g) - n * mean(g * n))
//   dweight += sum over rows of n * dout
//   dbias   += sum over rows of dout
// Shapes: inp/out/dinp/dout (N,C), mean/rstd (N), weight/bias/dweight/dbias (C).
#include <algorithm>
#include <cmath>

#include "cpu_ops.h"

namespace plume::kernels::cpu {
namespace {
constexpr int kChannelBlock = 16;  // one cache line of floats per thread and row
}  // namespace

void LayerNormForwardCpu(float* out, float* mean, float* rstd, const float* inp,
                         const float* weight, const float* bias, int N, int C) {
#pragma omp parallel for schedule(static) if (long{N} * C >= kParallelMinWork)
  for (int i = 0; i < N; ++i) {
    const float* x = inp + static_cast<long>(i) * C;
    // Two passes (mean, then squared deviations) rather than E[x^2]-E[x]^2, which cancels
    // badly when the mean is large against the spread.
    float sum = 0.0f;
    for (int c = 0; c < C; ++c) sum += x[c];
    const float m = sum / C;
    float sq = 0.0f;
    for (int c = 0; c < C; ++c) {
      const float d = x[c] - m;
      sq += d * d;
    }
    const float s = 1.0f / std::sqrt(sq / C + kLayerNormEps);
    float* o = out + static_cast<long>(i) * C;
    for (int c = 0; c < C; ++c) o[c] = (x[c] - m) * s * weight[c] + bias[c];
    mean[i] = m;
    rstd[i] = s;
  }
}

void LayerNormBackwardCpu(float* dinp, float* dweight, float* dbias, const float* dout,
                          const float* inp, const float* weight, const float* mean,
                          const float* rstd, int N, int C) {
  // Input gradient: rows are independent.
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const float* x = inp + static_cast<long>(i) * C;
    const float* dy = dout + static_cast<long>(i) * C;
    float* dx = dinp + static_cast<long>(i) * C;
    const float m = mean[i];
    const float s = rstd[i];
    float g_sum = 0.0f;
    float gn_sum = 0.0f;
    for (int c = 0; c < C; ++c) {
      const float g = weight[c] * dy[c];
      g_sum += g;
      gn_sum += g * (x[c] - m) * s;
    }
    const float g_mean = g_sum / C;
    const float gn_mean = gn_sum / C;
    for (int c = 0; c < C; ++c) {
      const float n = (x[c] - m) * s;
      dx[c] += s * (weight[c] * dy[c] - g_mean - n * gn_mean);
    }
  }
  // Parameter gradients are sums over rows. Splitting by column blocks gives each thread whole
  // columns, summed over rows in order: the result does not depend on the thread count.
  const int blocks = (C + kChannelBlock - 1) / kChannelBlock;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < blocks; ++blk) {
    const int c0 = blk * kChannelBlock;
    const int c1 = std::min(C, c0 + kChannelBlock);
    float dw[kChannelBlock] = {};
    float db[kChannelBlock] = {};
    for (int i = 0; i < N; ++i) {
      const float* x = inp + static_cast<long>(i) * C;
      const float* dy = dout + static_cast<long>(i) * C;
      const float m = mean[i];
      const float s = rstd[i];
      for (int c = c0; c < c1; ++c) {
        dw[c - c0] += (x[c] - m) * s * dy[c];
        db[c - c0] += dy[c];
      }
    }
    for (int c = c0; c < c1; ++c) {
      dweight[c] += dw[c - c0];
      dbias[c] += db[c - c0];
    }
  }
}

}  // namespace plume::kernels::cpu
