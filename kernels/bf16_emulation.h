// The BF16 kernels' arithmetic on the CPU, for machines without a GPU, and what the tests of
// those kernels share (shapes, tolerances). Header-only, test code only.
//
// - Matmul: matmul_bf16.cu rounds both operands to BF16 and accumulates exactly-representable
//   products in fp32, which is MakeEmulatedOps(Rounding::kBf16) (emulated_ops.h) up to the
//   order of the fp32 sums.
// - Attention: EmulateAttentionForwardBf16 below follows attention_bf16.cu step by step: q, k,
//   v and P rounded to BF16 where the kernel rounds them, keys in tiles of 64 in increasing
//   order, the online-softmax update per tile (m, l, rescale of O), out = O / l. Planted bugs
//   (AttentionBug) are the ways such a kernel goes wrong; the tests show the tolerance catches
//   each of them.
#pragma once

#include <cmath>
#include <limits>
#include <vector>

#include "emulated_ops.h"

namespace plume::kernels::testing {

// Against the fp32 CPU reference, per element within tol * (|ref| + rms(ref))
// (cuda_test_util.h). BF16 rounding is 2^-8 relative per operand, so a product is off by up to
// 2^-7 and a sum of random-signed products by about 2e-3 of its rms; the worst of ~10^6
// elements is a few times that (measured: 0.46 of kTolBf16 at worst on kBf16MatmulShapes).
// Attention adds the error of the scores (|s| up to ~6 here) inside exp(): its worst measured
// element is 0.49 of kTolBf16Attention (forward) and 0.70 of kTolBf16Attention, i.e. 0.35 of
// kTolBf16AttentionBackward, for the fp32 backward fed by the BF16 forward's out and lse.
// bf16_tolerance_test.cc measures these margins on every shape below and shows that a dropped
// k slice, coarser operands and broken attention variants exceed the tolerances many times.
inline constexpr double kTolBf16 = 2e-2;
inline constexpr double kTolBf16Attention = 5e-2;
inline constexpr double kTolBf16AttentionBackward = 1e-1;
// GPU against the emulation: the same roundings, only the fp32 summation order differs (matmul),
// plus exp() in the last bits, which can flip a P element's BF16 rounding (attention).
inline constexpr double kTolBf16MatmulVsEmulation = 1e-4;
inline constexpr double kTolBf16AttentionVsEmulation = 5e-3;

struct MatmulShape {
  int N, C, OC;
};
// Edges of every tile (128x128x32 blocks, 16x16x16 fragments, 8-element rows), one row, and a
// weight gradient whose k (= N) spans two of the kernel's 4096-wide conversion chunks.
inline const std::vector<MatmulShape> kBf16MatmulShapes = {
    {77, 96, 130}, {37, 33, 17}, {1, 5, 3}, {129, 200, 257}, {256, 768, 2304}, {4133, 40, 24}};

struct AttentionShape {
  int B, T, C, NH;
};
// Head sizes 16..128 and 30 (padded to 32), T below, at and across the 64-row/64-key tiles.
inline const std::vector<AttentionShape> kBf16AttentionShapes = {
    {2, 37, 64, 4}, {1, 128, 128, 2}, {1, 257, 96, 3}, {2, 50, 256, 2},
    {1, 1, 32, 1},  {3, 65, 48, 2},   {1, 200, 60, 2}, {2, 130, 768, 12}};

enum class AttentionBug {
  kNone,
  kNoRescale,       // O is not multiplied by exp(m_old - m_new) when the max grows
  kCausalOffByOne,  // query t also sees key t+1
  kDiagonalTileDropped,  // the key tile holding the query's own position is skipped (t >= 64)
};

inline float Bf16(float x) { return RoundTo(Rounding::kBf16, x); }

// out (B,T,C), lse (B,NH,T) from qkv (B,T,3C), as attention_bf16.cu computes them.
inline void EmulateAttentionForwardBf16(std::vector<float>& out, std::vector<float>& lse,
                                        const std::vector<float>& qkv, int B, int T, int C,
                                        int NH, AttentionBug bug = AttentionBug::kNone) {
  constexpr int kKTile = 64;
  const int HS = C / NH;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  const float inf = std::numeric_limits<float>::infinity();
  out.assign(size_t(B) * T * C, 0.0f);
  lse.assign(size_t(B) * NH * T, 0.0f);
  auto at = [&](int b, int t, int which, int h, int d) {
    return t < T ? Bf16(qkv[(size_t(b) * T + t) * 3 * C + size_t(which) * C + h * HS + d]) : 0.0f;
  };
  std::vector<float> o(HS), s(kKTile), q(HS);
  for (int b = 0; b < B; ++b) {
    for (int h = 0; h < NH; ++h) {
      for (int tq = 0; tq < T; ++tq) {
        for (int d = 0; d < HS; ++d) q[d] = at(b, tq, 0, h, d);
        std::fill(o.begin(), o.end(), 0.0f);
        float m = -inf, l = 0.0f;
        const int visible = bug == AttentionBug::kCausalOffByOne ? tq + 1 : tq;
        for (int k0 = 0; k0 <= visible; k0 += kKTile) {
          if (bug == AttentionBug::kDiagonalTileDropped && k0 > 0 && k0 + kKTile > tq) continue;
          float tile_max = -inf;
          for (int c = 0; c < kKTile; ++c) {
            const int tk = k0 + c;
            s[c] = -inf;
            if (tk > visible) continue;
            float dot = 0.0f;
            for (int d = 0; d < HS; ++d) dot += q[d] * at(b, tk, 1, h, d);
            s[c] = dot * scale;
            tile_max = std::max(tile_max, s[c]);
          }
          const float m_new = std::max(m, tile_max);
          const float corr = m_new == -inf ? 1.0f : std::exp(m - m_new);
          float sum = 0.0f;
          if (bug != AttentionBug::kNoRescale) {
            for (float& x : o) x *= corr;
          }
          for (int c = 0; c < kKTile; ++c) {
            const float p = s[c] == -inf ? 0.0f : std::exp(s[c] - m_new);
            sum += p;
            const float p16 = Bf16(p);
            if (p16 == 0.0f) continue;
            for (int d = 0; d < HS; ++d) o[d] += p16 * at(b, k0 + c, 2, h, d);
          }
          l = l * corr + sum;
          m = m_new;
        }
        for (int d = 0; d < HS; ++d) out[(size_t(b) * T + tq) * C + h * HS + d] = o[d] / l;
        lse[(size_t(b) * NH + h) * T + tq] = m + std::log(l);
      }
    }
  }
}

}  // namespace plume::kernels::testing
