// exp and tanh for the CPU backend's inner loops, written so the compiler can vectorise them.
// libm's expf/tanhf are calls the compiler cannot vectorise without -ffast-math, and they were
// the cost of GELU and of the softmax over a 50k vocabulary. Private to kernels/cpu.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

namespace plume::kernels::cpu {

// e^x within 2 ulp where e^x is a normal float; 0 where it would be below ~1e-38 (x < -87.3),
// and e^88 for x > 88 (callers pass x <= 0 or clamp).
// Method: e^x = 2^n e^r with n = round(x / ln2), r = x - n ln2 in [-ln2/2, ln2/2] (ln2 split
// in two parts so n*ln2_hi is exact), e^r by its Taylor series to r^7 (remainder < 6e-9). The
// code is branch-free so that loops over it vectorise: the underflow case is n = -127, whose
// 2^n bit pattern is 0.
inline float FastExp(float x) {
  const float xc = std::min(std::max(x, -88.5f), 88.0f);
  // Round to nearest by adding and removing 1.5 * 2^23 (std::floor does not vectorise without
  // -fno-trapping-math); exact for |x / ln2| < 2^22.
  constexpr float kRound = 12582912.0f;
  const float n = std::max((xc * 1.44269504088896341f + kRound) - kRound, -127.0f);
  float r = std::fma(n, -0.693359375f, xc);
  r = std::fma(n, 2.12194440e-4f, r);
  float p = 1.0f / 5040.0f;
  p = std::fma(p, r, 1.0f / 720.0f);
  p = std::fma(p, r, 1.0f / 120.0f);
  p = std::fma(p, r, 1.0f / 24.0f);
  p = std::fma(p, r, 1.0f / 6.0f);
  p = std::fma(p, r, 0.5f);
  p = std::fma(p, r, 1.0f);
  p = std::fma(p, r, 1.0f);
  return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

// tanh(u) with absolute error below 3e-7 (not relative: for tiny |u| use u itself). Enough for
// GELU, where tanh is added to 1. Exactly +-1 beyond |u| = 10, as float tanh is.
inline float FastTanh(float u) {
  const float e = FastExp(2.0f * std::min(std::max(u, -10.0f), 10.0f));
  return 1.0f - 2.0f / (e + 1.0f);
}

}  // namespace plume::kernels::cpu
