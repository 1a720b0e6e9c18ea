// The KV-cache ops of generation, CPU reference (ops.h "inference with a KV cache"): the
// embedding of one new token per sequence at its own position, the copy of its key and value
// into the sequence's cache slot, and the attention of its query over the cached positions.
//
// Caches are (S, NH, maxT, HS): one head of one sequence is a contiguous (maxT, HS) block, read
// front to back by the attention. Per (row, head) the attention is
//   s[t] = scale * q . k[t]  (lanes.h order),  m = max s,  e[t] = FastExp(s[t] - m),
//   out = (sum_t e[t] v[t], fused multiply-adds in increasing t) * (1 / sum_t e[t])
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

// e[t] = scale * q . k[t] for t < len, each a lanes.h dot product. With AVX2, eight keys at a
// time: eight independent FMA chains instead of one (a dot product of 64 is otherwise bound by
// the latency of its 8 dependent FMAs); each key's arithmetic is still exactly Dot's. Each block
// of eight keys also asks for the same positions' values to come into L2, so that
// WeightedValues reads them from there instead of waiting on memory again (a hint: no result
// changes; about 5.2 -> 4.6 ms of attention in a batch-16 GPT-2 124M step at 80 cached
// positions, 2-core Zen 4).
void Scores(float* e, const float* q, const float* k, const float* v, int len, int HS,
            float scale) {
  int t = 0;
#ifdef PLUME_LANES_AVX2
  const int full = HS / kLanes * kLanes;
  const __m256i tail = FirstLanes(HS - full > 0 ? HS - full : kLanes);
  for (; t + 8 <= len; t += 8) {
    const float* kt = k + static_cast<long>(t) * HS;
    const char* vt = reinterpret_cast<const char*>(v + static_cast<long>(t) * HS);
    for (long b = 0; b < 8L * HS * 4; b += 64) _mm_prefetch(vt + b, _MM_HINT_T1);
    __m256 acc[8];
    for (int j = 0; j < 8; ++j) acc[j] = _mm256_setzero_ps();
    for (int d = 0; d < full; d += kLanes) {
      const __m256 qv = _mm256_loadu_ps(q + d);
      for (int j = 0; j < 8; ++j) {
        acc[j] = _mm256_fmadd_ps(qv, _mm256_loadu_ps(kt + j * HS + d), acc[j]);
      }
    }
    if (full < HS) {
      const __m256 qv = _mm256_maskload_ps(q + full, tail);
      for (int j = 0; j < 8; ++j) {
        acc[j] = _mm256_fmadd_ps(qv, _mm256_maskload_ps(kt + j * HS + full, tail), acc[j]);
      }
    }
    for (int j = 0; j < 8; ++j) e[t + j] = scale * LaneSum(acc[j]);
  }
#endif
  for (; t < len; ++t) e[t] = scale * Dot(q, k + static_cast<long>(t) * HS, HS);
}

// o[d] = (sum over t < len of p[t] v[t][d], fused multiply-adds in increasing t) * inv. With
// AVX2 and HS a multiple of 8, up to 64 channels stay in registers across the positions.
void WeightedValues(float* o, const float* p, const float* v, int len, int HS, float inv) {
#ifdef PLUME_LANES_AVX2
  if (HS % kLanes == 0) {
    for (int d0 = 0; d0 < HS; d0 += 8 * kLanes) {
      const int vecs = std::min(8, (HS - d0) / kLanes);
      __m256 acc[8];
      for (int j = 0; j < vecs; ++j) acc[j] = _mm256_setzero_ps();
      for (int t = 0; t < len; ++t) {
        const __m256 pt = _mm256_set1_ps(p[t]);
        const float* vt = v + static_cast<long>(t) * HS + d0;
        for (int j = 0; j < vecs; ++j) {
          acc[j] = _mm256_fmadd_ps(pt, _mm256_loadu_ps(vt + j * kLanes), acc[j]);
        }
      }
      const __m256 s = _mm256_set1_ps(inv);
      for (int j = 0; j < vecs; ++j) _mm256_storeu_ps(o + d0 + j * kLanes, _mm256_mul_ps(acc[j], s));
    }
    return;
  }
#endif
  for (int d = 0; d < HS; ++d) {
    float acc = 0.0f;
    for (int t = 0; t < len; ++t) acc = std::fma(p[t], v[static_cast<long>(t) * HS + d], acc);
    o[d] = acc * inv;
  }
}

}  // namespace

void EncoderForwardAtCpu(float* out, const int32_t* tokens, const int32_t* positions,
                         const float* wte, const float* wpe, int N, int C) {
#pragma omp parallel for schedule(static) if (long{N} * C >= kParallelMinWork)
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
#pragma omp parallel for schedule(static) if (2 * long{N} * C >= kParallelMinWork)
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
  long work = 0;  // multiply-adds: q.k and p.v over every cached position
  for (int i = 0; i < N; ++i) work += 2L * lengths[i] * C;
#pragma omp parallel if (work >= kParallelMinWork)
  {
    std::vector<float> e(static_cast<size_t>(maxT));
    // Lengths differ between rows, hence dynamic; each (row, head) is still one thread's.
#pragma omp for schedule(dynamic, 1)
    for (int item = 0; item < items; ++item) {
      const int i = item / NH, h = item % NH, len = lengths[i];
      const float* q = qkv + static_cast<long>(i) * 3 * C + h * HS;
      const float* k = k_cache + CacheRow(slots[i], h, 0, NH, maxT, HS);
      const float* v = v_cache + CacheRow(slots[i], h, 0, NH, maxT, HS);
      Scores(e.data(), q, k, v, len, HS, scale);
      float mx = -INFINITY;
      for (int t = 0; t < len; ++t) mx = std::max(mx, e[t]);
      for (int t = 0; t < len; ++t) e[t] = FastExp(e[t] - mx);
      float sum = 0.0f;
      for (int t = 0; t < len; ++t) sum += e[t];
      WeightedValues(out + static_cast<long>(i) * C + h * HS, e.data(), v, len, HS, 1.0f / sum);
    }
  }
}

}  // namespace plume::kernels::cpu
