// The matmul's product C (M,Ng) (+)= A (M,K) B (K,Ng) with both operands rounded to BF16
// (round to nearest even) and fp32 accumulation on tensor cores; C stays fp32. Selected with
// PLUME_CUDA_MATMUL=bf16 (cuda_kernel_choice.h); matmul.cu says what the three products are.
//
// Status: compiled (sm_90), checked only against its CPU emulation on machines without a GPU;
// it has never run on a GPU (bench/RESULTS.md).
//
// Two steps per product:
// 1. ToBf16Kernel copies the operands to BF16 in the scratch block, in their stored layout, with
//    rows padded to a multiple of 8 elements (16 bytes) by zeros. K is converted in chunks of
//    kChunkK: the scratch needed stays bounded (the logits' gradient is N x 50304), and because
//    the chunk size does not depend on M or Ng, a row of C never depends on the other rows
//    (MatmulForwardRows relies on that).
// 2. Bf16GemmKernel: a 128x128 block tile, 8 warps of 64x32 (4x2 WMMA 16x16x16 accumulators),
//    k slices of 32 copied global -> shared with cp.async, four slices in flight, so the copies
//    of slices t+1..t+3 overlap the tensor-core work on slice t. Zero-filled copies pad every
//    edge (M, Ng, K need not be multiples of anything). Transposed operands are read with
//    column-major fragments, never transposed in memory.
// Each output is summed by one warp in increasing k, chunk after chunk: deterministic.
//
// Numerics: BF16 keeps 8 significant bits (unit roundoff 2^-8), so each product a*b carries a
// relative error up to about 2^-7; summed over K with fp32 accumulation the error of an element
// is about 2e-3 of the rms of C, and the worst of a million elements stays below 2e-2 of
// (|C| + rms C) (kernels/bf16_tolerance_test.cc measures this on the CPU emulation).
#include <cuda_bf16.h>
#include <mma.h>

#include <algorithm>
#include <string>
#include <type_traits>

#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

using namespace nvcuda;
using bf16 = __nv_bfloat16;

constexpr int kBM = 128, kBN = 128, kBK = 32;
constexpr int kStages = 4;
constexpr int kThreads = 256;  // 8 warps: 2 (M) x 4 (N), each 64 x 32
constexpr int kSkew = 8;       // bf16 of padding per smem row: 16 bytes, fewer bank conflicts
constexpr int kTileElems = kBM * (kBK + kSkew);  // max(128 x 40, 32 x 136): one operand slice
constexpr int kSmemBytes = kStages * 2 * kTileElems * static_cast<int>(sizeof(bf16));
constexpr int kChunkK = 4096;
static_assert(8 * 256 * sizeof(float) <= kSmemBytes, "the epilogue reuses the pipeline's smem");

constexpr int RoundUp8(int x) { return (x + 7) / 8 * 8; }

// dst (rows, ldd) = BF16 of rows [r0, r0+rows) x columns [c0, c0+cols) of the row-major fp32
// matrix src (leading dimension lds); columns [cols, ldd) are zero. grid (x: columns, y: rows),
// both grid-stride.
__global__ void ToBf16Kernel(bf16* dst, int ldd, const float* src, int lds, int r0, int c0,
                             int rows, int cols) {
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    const float* s = src + static_cast<size_t>(r0 + r) * lds + c0;
    bf16* d = dst + static_cast<size_t>(r) * ldd;
    for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < ldd; c += gridDim.x * blockDim.x) {
      d[c] = __float2bfloat16_rn(c < cols ? s[c] : 0.0f);
    }
  }
}

// Copies rows [r0, r0+R) x columns [c0, c0+Cn) of a BF16 matrix (leading dimension ld, a
// multiple of 8, zeros past its real columns; `rows` rows) into smem with row length Cn+kSkew.
// Chunks past the matrix are zero-filled.
template <int R, int Cn>
__device__ __forceinline__ void LoadTile(bf16* smem, const bf16* g, int ld, int r0, int c0,
                                         int rows) {
  constexpr int kChunks = R * Cn / 8;
  static_assert(kChunks % kThreads == 0, "every thread copies the same number of chunks");
#pragma unroll
  for (int i = 0; i < kChunks / kThreads; ++i) {
    const int chunk = threadIdx.x + i * kThreads;
    const int r = chunk / (Cn / 8), c = (chunk % (Cn / 8)) * 8;
    const bool valid = r0 + r < rows && c0 + c < ld;
    const bf16* src = valid ? g + static_cast<size_t>(r0 + r) * ld + (c0 + c) : g;
    CpAsync16(smem + r * (Cn + kSkew) + c, src, valid);
  }
}

// A is stored [m][k] (rows M) or, when kTransA, [k][m] (rows K); B is [k][n] (rows K) or, when
// kTransB, [n][k] (rows Ng).
template <bool kTransA, bool kTransB>
__device__ __forceinline__ void LoadStage(bf16* as, bf16* bs, const bf16* a, const bf16* b,
                                          int M, int Ng, int K, int lda, int ldb, int m0, int n0,
                                          int k0) {
  if constexpr (kTransA) {
    LoadTile<kBK, kBM>(as, a, lda, k0, m0, K);
  } else {
    LoadTile<kBM, kBK>(as, a, lda, m0, k0, M);
  }
  if constexpr (kTransB) {
    LoadTile<kBN, kBK>(bs, b, ldb, n0, k0, Ng);
  } else {
    LoadTile<kBK, kBN>(bs, b, ldb, k0, n0, K);
  }
}

// grid (ceil(Ng/128), ceil(M/128)), block 256, dynamic smem kSmemBytes. bias (Ng) may be null.
template <bool kTransA, bool kTransB>
__global__ void __launch_bounds__(kThreads, 2)
    Bf16GemmKernel(float* c_out, const bf16* a, const bf16* b, const float* bias, int M, int Ng,
                   int K, int lda, int ldb, int ldc, bool accumulate) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* smem = reinterpret_cast<bf16*>(smem_raw);
  using LayoutA = std::conditional_t<kTransA, wmma::col_major, wmma::row_major>;
  using LayoutB = std::conditional_t<kTransB, wmma::col_major, wmma::row_major>;
  constexpr int ldsA = kTransA ? kBM + kSkew : kBK + kSkew;
  constexpr int ldsB = kTransB ? kBK + kSkew : kBN + kSkew;

  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = warp / 4, wn = warp % 4;  // warp tile rows wm*64, columns wn*32
  const auto stage_a = [&](int s) { return smem + s * 2 * kTileElems; };
  const auto stage_b = [&](int s) { return smem + s * 2 * kTileElems + kTileElems; };

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[4][2];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  const int slices = (K + kBK - 1) / kBK;
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < slices) {
      LoadStage<kTransA, kTransB>(stage_a(s), stage_b(s), a, b, M, Ng, K, lda, ldb, m0, n0,
                                  s * kBK);
    }
    CpAsyncCommit();  // empty groups keep the wait count uniform
  }
  for (int t = 0; t < slices; ++t) {
    CpAsyncWait<kStages - 2>();  // slice t has landed (this thread's copies)
    __syncthreads();             // ... everyone's; and slice t-1's buffer is free again
    const int next = t + kStages - 1;
    if (next < slices) {
      LoadStage<kTransA, kTransB>(stage_a(next % kStages), stage_b(next % kStages), a, b, M, Ng,
                                  K, lda, ldb, m0, n0, next * kBK);
    }
    CpAsyncCommit();
    const bf16* as = stage_a(t % kStages);
    const bf16* bs = stage_b(t % kStages);
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, LayoutA> fa[4];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, LayoutB> fb[2];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int m = wm * 64 + i * 16;
        wmma::load_matrix_sync(fa[i], kTransA ? as + kk * ldsA + m : as + m * ldsA + kk, ldsA);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int n = wn * 32 + j * 16;
        wmma::load_matrix_sync(fb[j], kTransB ? bs + n * ldsB + kk : bs + kk * ldsB + n, ldsB);
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
  }
  CpAsyncWait<0>();
  __syncthreads();  // every warp is done with the stages: the epilogue reuses them

  // Epilogue: each warp stages one 16x16 accumulator at a time in its own 256 floats.
  float* st = reinterpret_cast<float*>(smem_raw) + warp * 256;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(st, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        const int gm = m0 + wm * 64 + i * 16 + e / 16;
        const int gn = n0 + wn * 32 + j * 16 + e % 16;
        if (gm < M && gn < Ng) {
          float v = st[e];
          if (bias != nullptr) v += bias[gn];
          float* dst = c_out + static_cast<size_t>(gm) * ldc + gn;
          *dst = accumulate ? *dst + v : v;
        }
      }
      __syncwarp();
    }
  }
#endif
}

Status Convert(const LaunchContext& ctx, bf16* dst, int ldd, const float* src, int lds, int r0,
               int c0, int rows, int cols) {
  const dim3 grid(std::min(CeilDiv(ldd, 256), 16), std::min(rows, 65535));
  ToBf16Kernel<<<grid, 256, 0, ctx.stream>>>(dst, ldd, src, lds, r0, c0, rows, cols);
  CUDA_CHECK_LAUNCH("ToBf16Kernel");
  return {};
}

}  // namespace

template <bool kTransA, bool kTransB>
Status Bf16Gemm(const LaunchContext& ctx, float* c_out, const float* a, const float* b,
                const float* bias, int M, int Ng, int K, int lda, int ldb, int ldc,
                bool accumulate) {
  const dim3 grid(CeilDiv(Ng, kBN), CeilDiv(M, kBM));
  if (grid.y > 65535u) {
    return Fail("bf16 matmul: " + std::to_string(M) + " rows exceed the grid limit");
  }
  // Leading dimensions of the BF16 copies of one chunk (kc <= kChunkK of K).
  const int kc_max = std::min(K, kChunkK);
  const int lda16 = kTransA ? RoundUp8(M) : RoundUp8(kc_max);
  const int ldb16 = kTransB ? RoundUp8(kc_max) : RoundUp8(Ng);
  const size_t a_elems = static_cast<size_t>(kTransA ? kc_max : M) * lda16;
  const size_t b_elems = static_cast<size_t>(kTransB ? Ng : kc_max) * ldb16;
  const size_t a_bytes = (a_elems * sizeof(bf16) + 255) / 256 * 256;  // B starts 256-aligned
  auto scratch = ctx.scratch->Get(a_bytes + b_elems * sizeof(bf16));
  if (!scratch) return tl::unexpected(scratch.error());
  bf16* a16 = static_cast<bf16*>(*scratch);
  bf16* b16 = reinterpret_cast<bf16*>(static_cast<unsigned char*>(*scratch) + a_bytes);

  auto kernel = Bf16GemmKernel<kTransA, kTransB>;
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  kSmemBytes));
  for (int k0 = 0; k0 < K; k0 += kChunkK) {
    const int kc = std::min(kChunkK, K - k0);
    // Same stream: this chunk's conversion waits for the previous chunk's product to finish
    // reading the scratch.
    const Status sa = kTransA ? Convert(ctx, a16, lda16, a, lda, k0, 0, kc, M)
                              : Convert(ctx, a16, RoundUp8(kc), a, lda, 0, k0, M, kc);
    if (!sa) return sa;
    const Status sb = kTransB ? Convert(ctx, b16, RoundUp8(kc), b, ldb, 0, k0, Ng, kc)
                              : Convert(ctx, b16, ldb16, b, ldb, k0, 0, kc, Ng);
    if (!sb) return sb;
    const bool first = k0 == 0;
    kernel<<<grid, kThreads, kSmemBytes, ctx.stream>>>(
        c_out, a16, b16, first ? bias : nullptr, M, Ng, kc, kTransA ? lda16 : RoundUp8(kc),
        kTransB ? RoundUp8(kc) : ldb16, ldc, first ? accumulate : true);
    CUDA_CHECK_LAUNCH("Bf16GemmKernel");
  }
  return {};
}

template Status Bf16Gemm<false, true>(const LaunchContext&, float*, const float*, const float*,
                                      const float*, int, int, int, int, int, int, bool);
template Status Bf16Gemm<false, false>(const LaunchContext&, float*, const float*, const float*,
                                       const float*, int, int, int, int, int, int, bool);
template Status Bf16Gemm<true, false>(const LaunchContext&, float*, const float*, const float*,
                                      const float*, int, int, int, int, int, int, bool);

}  // namespace plume::kernels::cuda
