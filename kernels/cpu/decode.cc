// The KV-cache ops of generation, CPU reference (ops.h "inference with a KV cache"): the
// embedding of one new token per sequence at its own position, the copy of its key and value
// into the sequence's cache slot, and the attention of its query over the cached positions.
//
// Caches are (S, NH, maxT, HS): one head of one sequence is a contiguous (maxT, HS) block, read
// front to back by the attention. Per (row, head) the attention is
//   s[t] = scale * q . k[t]  (lanes.h order),  m = max s,  e[t] = FastExp(s[t] - m),
//   out = (sum_t e[t] v[t], accumulated in increasing t) * (1 / sum_t e[t])
// done by one thread from start to end, so a row's result depends on nothing but its own query
// and cache slot (never on N, the other rows or the thread count).

// The fast_math.h loops vectorise only when the compiler may ignore floating-point exception
// flags, which nothing here reads; results are unchanged (no reassociation is allowed).
#pragma GCC optimize("no-trapping-math")

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "cpu_ops.h"
#include "fast_math.h"
#include "lanes.h"

namespace plume::kernels::cpu {
namespace {

long CacheRow(int slot, int head, int pos, int NH, int maxT, int HS) {
  return ((static_cast<long>(slot) * NH + head) * maxT + pos) * HS;
}

}  // namespace

void EncoderForwardAtCpu(float* out, const int32_t* tokens, const int32_t* positions,
                         const float* wte, const float* wpe, int N, int C) {
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const float* te = wte + static_cast<long>(tokens[i]) * C;
    const float* pe = wpe + static_cast<long>(positions[i]) * C;
    float* o = out + static_cast<long>(i) * C;
    for (int c = 0; c < C; ++c) o[c] = te[c] + pe[c];
  }
}

void KvCacheWriteCpu(float* k_cache, float* v_cache, const float* qkv, const int32_t* slots,
                     const int32_t* positions, int N, int C, int NH, int maxT) {
  const int HS = C / NH;
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    const float* row = qkv + static_cast<long>(i) * 3 * C;
    for (int h = 0; h < NH; ++h) {
      const long at = CacheRow(slots[i], h, positions[i], NH, maxT, HS);
      std::memcpy(k_cache + at, row + C + h * HS, sizeof(float) * HS);
      std::memcpy(v_cache + at, row + 2 * C + h * HS, sizeof(float) * HS);
    }
  }
}

void AttentionDecodeCpu(float* out, const float* qkv, const float* k_cache, const float* v_cache,
                        const int32_t* slots, const int32_t* lengths, int N, int C, int NH,
                        int maxT) {
  const int HS = C / NH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const int items = N * NH;
#pragma omp parallel
  {
    std::vector<float> e(static_cast<size_t>(maxT));
    std::vector<float> acc(static_cast<size_t>(HS));
    // Lengths differ between rows, hence dynamic; each (row, head) is still one thread's.
#pragma omp for schedule(dynamic, 1)
    for (int item = 0; item < items; ++item) {
      const int i = item / NH, h = item % NH, len = lengths[i];
      const float* q = qkv + static_cast<long>(i) * 3 * C + h * HS;
      const float* k = k_cache + CacheRow(slots[i], h, 0, NH, maxT, HS);
      const float* v = v_cache + CacheRow(slots[i], h, 0, NH, maxT, HS);
      float mx = -INFINITY;
      for (int t = 0; t < len; ++t) {
        e[t] = scale * Dot(q, k + static_cast<long>(t) * HS, HS);
        mx = std::max(mx, e[t]);
      }
      for (int t = 0; t < len; ++t) e[t] = FastExp(e[t] - mx);
      float sum = 0.0f;
      for (int t = 0; t < len; ++t) sum += e[t];
      std::fill(acc.begin(), acc.end(), 0.0f);
      for (int t = 0; t < len; ++t) {
        const float p = e[t];
        const float* vt = v + static_cast<long>(t) * HS;
        for (int d = 0; d < HS; ++d) acc[d] += p * vt[d];
      }
      const float inv = 1.0f / sum;
      float* o = out + static_cast<long>(i) * C + h * HS;
      for (int d = 0; d < HS; ++d) o[d] = acc[d] * inv;
    }
  }
}

}  // namespace plume::kernels::cpu
