// The BF16 kernels' arithmetic on the CPU, for machines without a GPU, and what the tests of
// those kernels share (shapes, tolerances). Header-only, test code only.
//
// - Matmul: matmul_bf16.cu rounds both operands to BF16 and accumulates exactly-representable
//   products in fp32, which is MakeEmulatedOps(Rounding::kBf16) (emulated_ops.h) up to the
//   order of the fp32 sums. EmulateBf16Gemm below replays the kernel itself: its k chunks and
//   BF16 copies, every block's stage ring (stages start as NaN, so a fragment that reads what
//   no copy wrote poisons the result), every warp's fragments, and the epilogue, with the index
//   arithmetic the kernel uses (cuda/matmul_bf16_tiling.h).
// - Attention: EmulateAttentionForwardBf16 below follows attention_bf16.cu step by step: q, k,
//   v and P rounded to BF16 where the kernel rounds them, keys in tiles of 64 in increasing
//   order, the online-softmax update per tile (m, l, rescale of O), out = O / l. Planted bugs
//   (AttentionBug) are the ways such a kernel goes wrong; the tests show the tolerance catches
//   each of them.
#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cuda/matmul_bf16_tiling.h"
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

inline float Bf16(float x) { return RoundTo(Rounding::kBf16, x); }

// C (M,Ng) (+)= A (M,K) B (K,Ng) as Bf16GemmKernel computes it (matmul.cu's Gemm arguments:
// A(m,k) = kTransA ? a[k*lda+m] : a[m*lda+k], B(k,n) = kTransB ? b[n*ldb+k] : b[k*ldb+n]).
template <bool kTransA, bool kTransB>
void EmulateBf16Gemm(float* c_out, const float* a, const float* b, const float* bias, int M,
                     int Ng, int K, int lda, int ldb, int ldc, bool accumulate) {
  using namespace cuda::bf16mm;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const auto copy = [](const float* src, int lds, OperandCopy c) {
    std::vector<float> out(size_t(c.rows) * c.ld);
    for (int r = 0; r < c.rows; ++r)
      for (int k = 0; k < c.ld; ++k)
        out[size_t(r) * c.ld + k] = k < c.cols ? Bf16(src[size_t(c.r0 + r) * lds + c.c0 + k])
                                                 : 0.0f;
    return out;
  };
  // One operand's tile into a stage, chunk by chunk as the threads copy it.
  const auto load = [](std::vector<float>& stage, const std::vector<float>& g, int ld, int rows,
                       TileOrigin o, int R, int Cn) {
    for (int chunk = 0; chunk < R * Cn / 8; ++chunk) {
      const TileChunk t = ChunkAt(chunk, Cn);
      const bool valid = ChunkValid(o, t, rows, ld);
      for (int e = 0; e < 8; ++e) {
        stage[size_t(t.r) * (Cn + kSkew) + t.c + e] =
            valid ? g[size_t(o.r0 + t.r) * ld + o.c0 + t.c + e] : 0.0f;
      }
    }
  };
  // A 16x16 fragment as load_matrix_sync reads it: element (r, c) at p[r*ld+c] (row-major) or
  // p[c*ld+r] (column-major).
  const auto frag = [](const float* p, int ld, bool col_major, int r, int c) {
    return col_major ? p[size_t(c) * ld + r] : p[size_t(r) * ld + c];
  };
  constexpr int kAR = kTransA ? kBK : kBM, kBR = kTransB ? kBN : kBK;
  for (int k0 = 0; k0 < K; k0 += kChunkK) {
    const int kc = std::min(kChunkK, K - k0);
    const OperandCopy ca = ChunkCopy(kTransA, M, k0, kc), cb = ChunkCopy(!kTransB, Ng, k0, kc);
    const auto a16 = copy(a, lda, ca), b16 = copy(b, ldb, cb);
    const bool first = k0 == 0;
    const int slices = (kc + kBK - 1) / kBK;
    for (int m0 = 0; m0 < M; m0 += kBM) {
      for (int n0 = 0; n0 < Ng; n0 += kBN) {
        std::vector<std::vector<float>> sa(kStages, std::vector<float>(kTileElems, nan));
        std::vector<std::vector<float>> sb = sa;
        const auto load_stage = [&](int s, int slice) {
          load(sa[s], a16, ca.ld, ca.rows, ATileOrigin(kTransA, m0, slice * kBK), kAR,
               ATileCols(kTransA));
          load(sb[s], b16, cb.ld, cb.rows, BTileOrigin(kTransB, n0, slice * kBK), kBR,
               BTileCols(kTransB));
        };
        std::vector<float> acc(size_t(kThreads / 32) * 8 * 256, 0.0f);  // [warp][i*2+j][e]
        for (int s = 0; s < kStages - 1 && s < slices; ++s) load_stage(s, s);
        for (int t = 0; t < slices; ++t) {
          if (t + kStages - 1 < slices) load_stage((t + kStages - 1) % kStages, t + kStages - 1);
          const float* as = sa[t % kStages].data();
          const float* bs = sb[t % kStages].data();
          for (int w = 0; w < kThreads / 32; ++w) {
            const int wm = w / kWarpsN, wn = w % kWarpsN;
            for (int kk = 0; kk < kBK; kk += 16)
              for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 2; ++j) {
                  const float* pa = as + AFragOffset(kTransA, wm, i, kk);
                  const float* pb = bs + BFragOffset(kTransB, wn, j, kk);
                  float* out = &acc[(size_t(w) * 8 + i * 2 + j) * 256];
                  for (int e = 0; e < 256; ++e)
                    for (int q = 0; q < 16; ++q)
                      out[e] += frag(pa, ALd(kTransA), kTransA, e / 16, q) *
                                frag(pb, BLd(kTransB), kTransB, q, e % 16);
                }
          }
        }
        for (int w = 0; w < kThreads / 32; ++w)
          for (int i = 0; i < 4; ++i)
            for (int j = 0; j < 2; ++j)
              for (int e = 0; e < 256; ++e) {
                const OutIndex o = OutAt(m0, n0, w / kWarpsN, w % kWarpsN, i, j, e);
                if (o.m >= M || o.n >= Ng) continue;
                float v = acc[(size_t(w) * 8 + i * 2 + j) * 256 + e];
                if (first && bias != nullptr) v += bias[o.n];
                float& dst = c_out[size_t(o.m) * ldc + o.n];
                dst = (first ? accumulate : true) ? dst + v : v;
              }
      }
    }
  }
}

enum class AttentionBug {
  kNone,
  kNoRescale,       // O is not multiplied by exp(m_old - m_new) when the max grows
  kCausalOffByOne,  // query t also sees key t+1
  kDiagonalTileDropped,  // the key tile holding the query's own position is skipped (t >= 64)
};

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
