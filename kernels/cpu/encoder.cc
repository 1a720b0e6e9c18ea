// Token + position embedding, CPU reference. The first op of the GPT forward pass and the last
// of its backward pass.
//
// Forward:  out[b,t,:] = wte[tokens[b,t], :] + wpe[t, :]
// Backward: dwte[v,:] += sum over (b,t) with tokens[b,t] == v of dout[b,t,:]
//           dwpe[t,:] += sum over b of dout[b,t,:]
// Shapes: tokens (B,T) int32, wte (Vp,C), wpe (maxT,C) with T <= maxT, out/dout (B,T,C).
#include <algorithm>

#include "cpu_ops.h"

namespace plume::kernels::cpu {
namespace {
// Channels per block in the backward pass. 16 floats = one 64-byte cache line, so two threads
// never write the same line of dwte/dwpe.
constexpr int kChannelBlock = 16;
}  // namespace

void EncoderForwardCpu(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                       int T, int C) {
  const long rows = static_cast<long>(B) * T;
#pragma omp parallel for schedule(static)
  for (long r = 0; r < rows; ++r) {
    const long t = r % T;
    const float* w = wte + static_cast<long>(tokens[r]) * C;
    const float* p = wpe + t * C;
    float* o = out + r * C;
    for (int c = 0; c < C; ++c) o[c] = w[c] + p[c];
  }
}

void EncoderBackwardCpu(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                        int T, int C) {
  // Several positions may carry the same token, so a split over positions would make threads
  // race on a dwte row. Splitting over channel blocks instead lets each thread walk all
  // positions in order for its own columns: no race, and the summation order is fixed.
  const int blocks = (C + kChannelBlock - 1) / kChannelBlock;
  const long rows = static_cast<long>(B) * T;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < blocks; ++blk) {
    const int c0 = blk * kChannelBlock;
    const int c1 = std::min(C, c0 + kChannelBlock);
    for (long r = 0; r < rows; ++r) {
      const float* d = dout + r * C;
      float* w = dwte + static_cast<long>(tokens[r]) * C;
      float* p = dwpe + (r % T) * C;
      for (int c = c0; c < c1; ++c) {
        w[c] += d[c];
        p[c] += d[c];
      }
    }
  }
}

}  // namespace plume::kernels::cpu
