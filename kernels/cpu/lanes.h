// Eight-lane dot products with one fixed arithmetic order, for the inference kernels whose bits
// must not depend on how work is tiled (matmul_rows.cc, decode.cc). Private to kernels/cpu.
//
// The order, for a dot product of n elements: lane l (0..7) accumulates a[k] * b[k] for
// k = l, l + 8, l + 16, ... in increasing k with fused multiply-adds, starting from 0 (a last
// partial group of 8 is padded with zeros, which adds +0); then the lanes are summed as
// ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)). The AVX2 code and the portable code below
// compute exactly that, so they agree bit for bit (a test checks it).
#pragma once

#include <cmath>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define PLUME_LANES_AVX2 1
#endif

namespace plume::kernels::cpu {

inline constexpr int kLanes = 8;

// The lane sum of the order above, portable.
inline float LaneSum(const float* l) {
  const float s0 = l[0] + l[4], s1 = l[1] + l[5], s2 = l[2] + l[6], s3 = l[3] + l[7];
  return (s0 + s2) + (s1 + s3);
}

// The dot product of n floats in the order above, portable (std::fma is exact fused).
inline float DotPortable(const float* a, const float* b, int n) {
  float acc[kLanes] = {};
  for (int k0 = 0; k0 < n; k0 += kLanes) {
    for (int l = 0; l < kLanes; ++l) {
      const int k = k0 + l;
      acc[l] = k < n ? std::fma(a[k], b[k], acc[l]) : std::fma(0.0f, 0.0f, acc[l]);
    }
  }
  return LaneSum(acc);
}

#ifdef PLUME_LANES_AVX2
// The lane sum of the order above: lo + hi gives (l0+l4, l1+l5, l2+l6, l3+l7), adding the
// upper pair gives (s0+s2, s1+s3), and the last add combines those two.
inline float LaneSum(__m256 v) {
  const __m128 s4 = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 s2 = _mm_add_ps(s4, _mm_movehl_ps(s4, s4));
  return _mm_cvtss_f32(_mm_add_ss(s2, _mm_movehdup_ps(s2)));
}

// A mask of the first `valid` lanes (0 < valid <= 8) for _mm256_maskload_ps, whose masked-out
// lanes read as 0.
inline __m256i FirstLanes(int valid) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline float Dot(const float* a, const float* b, int n) {
  __m256 acc = _mm256_setzero_ps();
  const int full = n / kLanes * kLanes;
  for (int k = 0; k < full; k += kLanes) {
    acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc);
  }
  if (full < n) {
    const __m256i m = FirstLanes(n - full);
    acc = _mm256_fmadd_ps(_mm256_maskload_ps(a + full, m), _mm256_maskload_ps(b + full, m), acc);
  }
  return LaneSum(acc);
}
#else
inline float Dot(const float* a, const float* b, int n) { return DotPortable(a, b, n); }
#endif

}  // namespace plume::kernels::cpu
