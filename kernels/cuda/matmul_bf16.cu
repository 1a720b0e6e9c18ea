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
#include "matmul_bf16_tiling.h"

namespace plume::kernels::cuda {
namespace {

using namespace nvcuda;
using namespace bf16mm;  // tile sizes and index arithmetic (matmul_bf16_tiling.h)
using bf16 = __nv_bfloat16;

constexpr int kSmemBytes = kStages * 2 * kTileElems * static_cast<int>(sizeof(bf16));
static_assert(8 * 256 * sizeof(float) <= kSmemBytes, "the epilogue reuses the pipeline's smem");

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

// Copies the R x Cn tile at `o` of a BF16 copy (`rows` rows of ld elements) into smem, 16 bytes
// per cp.async; chunks outside the copy are zero-filled.
template <int R, int Cn>
__device__ __forceinline__ void LoadTile(bf16* smem, const bf16* g, int ld, TileOrigin o,
                                         int rows) {
  constexpr int kChunks = R * Cn / 8;
  static_assert(kChunks % kThreads == 0, "every thread copies the same number of chunks");
#pragma unroll
  for (int i = 0; i < kChunks / kThreads; ++i) {
    const TileChunk t = ChunkAt(threadIdx.x + i * kThreads, Cn);
    const bool valid = ChunkValid(o, t, rows, ld);
    const bf16* src = valid ? g + static_cast<size_t>(o.r0 + t.r) * ld + (o.c0 + t.c) : g;
    CpAsync16(smem + t.r * (Cn + kSkew) + t.c, src, valid);
  }
}

// A's copy has rows M (K when transposed), B's has rows K (Ng when transposed).
template <bool kTransA, bool kTransB>
__device__ __forceinline__ void LoadStage(bf16* as, bf16* bs, const bf16* a, const bf16* b,
                                          int M, int Ng, int K, int lda, int ldb, int m0, int n0,
                                          int k0) {
  constexpr int kAR = kTransA ? kBK : kBM, kBR = kTransB ? kBN : kBK;
  LoadTile<kAR, ATileCols(kTransA)>(as, a, lda, ATileOrigin(kTransA, m0, k0), kTransA ? K : M);
  LoadTile<kBR, BTileCols(kTransB)>(bs, b, ldb, BTileOrigin(kTransB, n0, k0), kTransB ? Ng : K);
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
  constexpr int ldsA = ALd(kTransA), ldsB = BLd(kTransB);

  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = warp / kWarpsN, wn = warp % kWarpsN;
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
        wmma::load_matrix_sync(fa[i], as + AFragOffset(kTransA, wm, i, kk), ldsA);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        wmma::load_matrix_sync(fb[j], bs + BFragOffset(kTransB, wn, j, kk), ldsB);
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
        const OutIndex o = OutAt(m0, n0, wm, wn, i, j, e);
        if (o.m < M && o.n < Ng) {
          float v = st[e];
          if (bias != nullptr) v += bias[o.n];
          float* dst = c_out + static_cast<size_t>(o.m) * ldc + o.n;
          *dst = accumulate ? *dst + v : v;
        }
      }
      __syncwarp();
    }
  }
#endif
}

// The BF16 copy `c` of the fp32 matrix src (leading dimension lds) into dst.
Status Convert(const LaunchContext& ctx, bf16* dst, const float* src, int lds, OperandCopy c) {
  const dim3 grid(std::min(CeilDiv(c.ld, 256), 16), std::min(c.rows, 65535));
  ToBf16Kernel<<<grid, 256, 0, ctx.stream>>>(dst, c.ld, src, lds, c.r0, c.c0, c.rows, c.cols);
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
  // The largest copies are those of the first chunk.
  const int kc_max = std::min(K, kChunkK);
  const OperandCopy a_max = ChunkCopy(kTransA, M, 0, kc_max);
  const OperandCopy b_max = ChunkCopy(!kTransB, Ng, 0, kc_max);
  const size_t a_bytes = (size_t(a_max.rows) * a_max.ld * sizeof(bf16) + 255) / 256 * 256;
  auto scratch = ctx.scratch->Get(a_bytes + size_t(b_max.rows) * b_max.ld * sizeof(bf16));
  if (!scratch) return tl::unexpected(scratch.error());
  bf16* a16 = static_cast<bf16*>(*scratch);
  bf16* b16 = reinterpret_cast<bf16*>(static_cast<unsigned char*>(*scratch) + a_bytes);

  auto kernel = Bf16GemmKernel<kTransA, kTransB>;
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  kSmemBytes));
  for (int k0 = 0; k0 < K; k0 += kChunkK) {
    const int kc = std::min(kChunkK, K - k0);
    const OperandCopy ca = ChunkCopy(kTransA, M, k0, kc), cb = ChunkCopy(!kTransB, Ng, k0, kc);
    // Same stream: this chunk's copies wait for the previous chunk's product to have read the
    // scratch.
    if (auto st = Convert(ctx, a16, a, lda, ca); !st) return st;
    if (auto st = Convert(ctx, b16, b, ldb, cb); !st) return st;
    const bool first = k0 == 0;
    kernel<<<grid, kThreads, kSmemBytes, ctx.stream>>>(c_out, a16, b16, first ? bias : nullptr,
                                                       M, Ng, kc, ca.ld, cb.ld, ldc,
                                                       first ? accumulate : true);
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
