// Causal attention forward on BF16 tensor cores, flash style. Same layout and outputs as
// attention.cu's forward (qkv (B,T,3C), out (B,T,C), lse (B,NH,T)); selected with
// PLUME_CUDA_ATTENTION=bf16 (cuda_kernel_choice.h). The backward stays attention.cu's fp32 one.
//
// Status: compiled (sm_90), checked only through its CPU emulation (kernels/bf16_emulation.h)
// on machines without a GPU; it has never run on a GPU (bench/RESULTS.md).
//
// A block owns 64 query rows of one (b, h), 4 warps of 16 rows. Keys stream through shared
// memory in tiles of 64, in increasing order, up to the block's last row. Per tile, each warp:
//   S (16x64)  = Q (16xHS) K^T     WMMA 16x16x16, q and k rounded to BF16, fp32 accumulate
//   mask (key > query) to -inf, scale; online softmax by rows: m_new = max(m, max_j s_j),
//   P_j = exp(s_j - m_new), l = l exp(m - m_new) + sum_j P_j (fp32), O *= exp(m - m_new)
//   O (16xHS) += P V               P and v rounded to BF16, fp32 accumulate
// and at the end out = O / l, lse = m + log l. Only tiles and 16-row strips live in shared
// memory; nothing of size T x T exists anywhere. Tiles wholly above a warp's rows are skipped.
// HS is padded with zeros to a multiple of 16 (HSp <= 128). Every sum has a fixed order (the
// tile order, and WMMA's fixed order within a tile): deterministic.
//
// Numerics: like the BF16 matmul (matmul_bf16.cu) for both products, plus P rounded to BF16
// (relative 2^-8) while l sums the unrounded P, the same choice FlashAttention makes.
#include <cuda_bf16.h>
#include <mma.h>

#include <string>

#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

using namespace nvcuda;
using bf16 = __nv_bfloat16;

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = 16;                 // query rows per warp
constexpr int kQTile = kWarps * kRows;    // query rows per block
constexpr int kKTile = 64;                // keys per streamed tile
constexpr int kLdS = kKTile + 4;          // floats per row of a warp's scores
constexpr int kLdP = kKTile + 8;          // bf16 per row of a warp's probabilities
constexpr int kMaxHS = 128;
static_assert(kQTile == kKTile, "LoadTileBf16 loads 64 rows of q, k or v alike");

// Shared memory, in bytes, for head size padded to HSp (a multiple of 16, so every part below
// is a multiple of 32 bytes, which WMMA pointers need): q, k, v tiles in BF16, then per warp its scores, probabilities,
// output accumulator and the row statistics.
struct Layout {
  int ld_qkv, ld_o;  // elements per row: bf16 tiles, fp32 output strip
  size_t qkv_bytes, warp_bytes;
  explicit __host__ __device__ Layout(int HSp)
      : ld_qkv(HSp + 8), ld_o(HSp + 4),
        qkv_bytes(3 * size_t(kQTile) * (HSp + 8) * sizeof(bf16)),
        warp_bytes(kRows * kLdS * sizeof(float) + kRows * kLdP * sizeof(bf16) +
                   kRows * size_t(HSp + 4) * sizeof(float) + 2 * kRows * sizeof(float)) {}
  size_t bytes() const { return qkv_bytes + kWarps * warp_bytes; }
};

// Rows [t0, t0+64) of q, k or v (which = 0, 1, 2) of head h as BF16, zero past T and past HS.
__device__ void LoadTileBf16(bf16* dst, int ld, const float* qkv, int which, int b, int h, int t0,
                             int T, int C, int HS, int HSp) {
  for (int e = threadIdx.x; e < kQTile * HSp; e += kThreads) {
    const int r = e / HSp, d = e % HSp, t = t0 + r;
    float v = 0.0f;
    if (t < T && d < HS) {
      v = qkv[static_cast<size_t>(b * T + t) * 3 * C + static_cast<size_t>(which) * C + h * HS + d];
    }
    dst[r * ld + d] = __float2bfloat16_rn(v);
  }
}

// grid (ceil(T/64), B*NH), block 128, dynamic smem Layout(HSp).bytes().
__global__ void __launch_bounds__(kThreads)
    AttentionForwardBf16Kernel(float* out, float* lse, const float* qkv, int T, int C, int NH,
                               int HS, int HSp, float scale) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  extern __shared__ __align__(128) unsigned char smem[];
  const Layout lay(HSp);
  const int ld = lay.ld_qkv, ldo = lay.ld_o;
  bf16* qs = reinterpret_cast<bf16*>(smem);
  bf16* ks = qs + kQTile * ld;
  bf16* vs = ks + kQTile * ld;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  unsigned char* mine = smem + lay.qkv_bytes + warp * lay.warp_bytes;
  float* ss = reinterpret_cast<float*>(mine);                     // [16][kLdS]
  bf16* ps = reinterpret_cast<bf16*>(ss + kRows * kLdS);          // [16][kLdP]
  float* os = reinterpret_cast<float*>(ps + kRows * kLdP);        // [16][ldo]
  float* stat = os + kRows * ldo;                                 // m[16], l[16]

  const int b = blockIdx.y / NH, h = blockIdx.y % NH;
  // The longest rows first: the last query tile has the most keys.
  const int q0 = (gridDim.x - 1 - blockIdx.x) * kQTile;
  const int qw = q0 + warp * kRows;  // this warp's first row
  LoadTileBf16(qs, ld, qkv, 0, b, h, q0, T, C, HS, HSp);
  for (int e = lane; e < kRows * ldo; e += 32) os[e] = 0.0f;

  // Lanes 2r and 2r+1 own row r's statistics and its keys c = half, half+2, ...
  const int r = lane / 2, half = lane % 2, tq = qw + r;
  float m = -INFINITY, l = 0.0f;

  const int q_last = min(q0 + kQTile, T) - 1;
  for (int k0 = 0; k0 <= q_last; k0 += kKTile) {
    __syncthreads();  // the previous tile is consumed (and qs is loaded, first time round)
    LoadTileBf16(ks, ld, qkv, 1, b, h, k0, T, C, HS, HSp);
    LoadTileBf16(vs, ld, qkv, 2, b, h, k0, T, C, HS, HSp);
    __syncthreads();
    if (k0 > qw + kRows - 1) continue;  // every key of the tile is after every row (warp-uniform)

    // S = Q K^T: k is stored [key][d], i.e. K^T column-major.
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> s_acc[kKTile / 16];
#pragma unroll
    for (int j = 0; j < kKTile / 16; ++j) wmma::fill_fragment(s_acc[j], 0.0f);
    for (int kk = 0; kk < HSp; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fq;
      wmma::load_matrix_sync(fq, qs + warp * kRows * ld + kk, ld);
#pragma unroll
      for (int j = 0; j < kKTile / 16; ++j) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> fk;
        wmma::load_matrix_sync(fk, ks + j * 16 * ld + kk, ld);
        wmma::mma_sync(s_acc[j], fq, fk, s_acc[j]);
      }
    }
#pragma unroll
    for (int j = 0; j < kKTile / 16; ++j) {
      wmma::store_matrix_sync(ss + j * 16, s_acc[j], kLdS, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax for row r, two lanes per row. A row past T (padding of the last query tile)
    // is masked entirely: it never gets a finite m, and is never written.
    float tile_max = -INFINITY;
    for (int c = half; c < kKTile; c += 2) {
      const int tk = k0 + c;
      const float s = (tk <= tq && tq < T) ? ss[r * kLdS + c] * scale : -INFINITY;
      ss[r * kLdS + c] = s;
      tile_max = fmaxf(tile_max, s);
    }
    tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, 1));
    const float m_new = fmaxf(m, tile_max);
    const float corr = m_new == -INFINITY ? 1.0f : expf(m - m_new);  // 0 while m is -inf
    float sum = 0.0f;
    for (int c = half; c < kKTile; c += 2) {
      const float s = ss[r * kLdS + c];
      const float p = s == -INFINITY ? 0.0f : expf(s - m_new);
      ps[r * kLdP + c] = __float2bfloat16_rn(p);
      sum += p;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    l = l * corr + sum;
    m = m_new;
    for (int d = half; d < HSp; d += 2) os[r * ldo + d] *= corr;
    __syncwarp();

    // O += P V: v is stored [key][d], row-major.
    wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> fp[kKTile / 16];
#pragma unroll
    for (int kk = 0; kk < kKTile / 16; ++kk) wmma::load_matrix_sync(fp[kk], ps + kk * 16, kLdP);
    for (int d0 = 0; d0 < HSp; d0 += 16) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> o_acc;
      wmma::load_matrix_sync(o_acc, os + d0, ldo, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < kKTile / 16; ++kk) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> fv;
        wmma::load_matrix_sync(fv, vs + kk * 16 * ld + d0, ld);
        wmma::mma_sync(o_acc, fp[kk], fv, o_acc);
      }
      wmma::store_matrix_sync(os + d0, o_acc, ldo, wmma::mem_row_major);
    }
    __syncwarp();
  }

  if (half == 0) {
    stat[r] = m;
    stat[kRows + r] = l;
  }
  __syncwarp();
  for (int e = lane; e < kRows * HS; e += 32) {
    const int rr = e / HS, d = e % HS, t = qw + rr;
    if (t >= T) continue;
    // l >= 1: the row's largest score contributes exp(0).
    out[static_cast<size_t>(b * T + t) * C + h * HS + d] = os[rr * ldo + d] / stat[kRows + rr];
  }
  if (half == 0 && tq < T) {
    lse[static_cast<size_t>(blockIdx.y) * T + tq] = m + logf(l);
  }
#endif
}

}  // namespace

Status LaunchAttentionForwardBf16(const LaunchContext& ctx, float* out, float* lse,
                                  const float* qkv, int B, int T, int C, int NH) {
  const int HS = C / NH;
  const int HSp = (HS + 15) / 16 * 16;
  if (HS > kMaxHS) {
    return Fail("bf16 attention: head size " + std::to_string(HS) + " exceeds " +
                std::to_string(kMaxHS));
  }
  const size_t smem = Layout(HSp).bytes();
  CUDA_CHECK(cudaFuncSetAttribute(AttentionForwardBf16Kernel,
                                  cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  static_cast<int>(smem)));
  const dim3 grid(CeilDiv(T, kQTile), B * NH);
  AttentionForwardBf16Kernel<<<grid, kThreads, smem, ctx.stream>>>(
      out, lse, qkv, T, C, NH, HS, HSp, 1.0f / sqrtf(static_cast<float>(HS)));
  CUDA_CHECK_LAUNCH("AttentionForwardBf16Kernel");
  return {};
}

}  // namespace plume::kernels::cuda
