// The fast path of the matmul (matmul.cu): the same product C (M,Ng) (+)= A (M,K) B (K,Ng) on
// TF32 tensor cores, for operands whose contiguous dimension is a multiple of 4 floats and whose
// base pointers are 16-byte aligned (every GPT shape; matmul.cu falls back to its simple kernel
// otherwise).
//
// Status: compiled, never run on a GPU; off unless PLUME_CUDA_MATMUL=pipelined
// (cuda_kernel_choice.h): the simple kernel passed every check on an H200 and this one has not
// run yet. scripts/gpu-check.sh runs the op tests and benchmarks both ways; make it the default
// once they pass there.
//
// Why it should be faster than the simple kernel (measured on an H200 at 4096^3: 29 TFLOP/s):
// - tiles are copied global -> shared with cp.async in 16-byte chunks, in their natural layout
//   (no per-element index math, no register round trip), three k-slices in flight, so the copy
//   of slice k+2 overlaps the tensor-core work on slice k;
// - a 128x128 block tile with 8 warps of 64x32 (8 accumulators each) doubles the arithmetic per
//   byte staged;
// - transposed operands are read with column-major WMMA fragments instead of being transposed
//   while staged.
// Operands are rounded to TF32 after the fragment load (round to nearest), as the simple kernel
// rounds them while staging, and each output is summed by one warp in increasing k, 8 at a time:
// the two paths give the same bits, and both are deterministic.
#include <mma.h>

#include <cstdint>
#include <string>

#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

using namespace nvcuda;

constexpr int kBM = 128, kBN = 128, kBK = 32;
constexpr int kStages = 3;
constexpr int kThreads = 256;     // 8 warps: 2 (M) x 4 (N), each 64 x 32
constexpr int kTileFloats = 4608;  // max(128 x 36, 32 x 132): one operand's slice, padded
constexpr int kSmemBytes = (2 * kStages * kTileFloats + 8 * 256) * 4;

// Copies rows [r0, r0+R) x columns [c0, c0+Cn) of a row-major matrix (leading dimension ld,
// bounds rows x cols, cols a multiple of 4) into smem with leading dimension lds; out-of-range
// chunks become zeros.
template <int R, int Cn>
__device__ __forceinline__ void LoadTile(float* smem, int lds, const float* g, int ld, int r0,
                                         int c0, int rows, int cols) {
  constexpr int kChunks = R * Cn / 4;
  static_assert(kChunks % kThreads == 0, "every thread copies the same number of chunks");
#pragma unroll
  for (int i = 0; i < kChunks / kThreads; ++i) {
    const int chunk = threadIdx.x + i * kThreads;
    const int r = chunk / (Cn / 4), c = (chunk % (Cn / 4)) * 4;
    const bool valid = r0 + r < rows && c0 + c < cols;
    const float* src = valid ? g + static_cast<size_t>(r0 + r) * ld + (c0 + c) : g;
    CpAsync16(smem + r * lds + c, src, valid);
  }
}

template <bool kTransA, bool kTransB>
__device__ __forceinline__ void LoadStage(float* as, float* bs, const float* a, const float* b,
                                          int M, int Ng, int K, int lda, int ldb, int m0, int n0,
                                          int k0) {
  if constexpr (kTransA) {
    LoadTile<kBK, kBM>(as, kBM + 4, a, lda, k0, m0, K, M);  // stored [k][m]
  } else {
    LoadTile<kBM, kBK>(as, kBK + 4, a, lda, m0, k0, M, K);  // stored [m][k]
  }
  if constexpr (kTransB) {
    LoadTile<kBN, kBK>(bs, kBK + 4, b, ldb, n0, k0, Ng, K);  // stored [n][k]
  } else {
    LoadTile<kBK, kBN>(bs, kBN + 4, b, ldb, k0, n0, K, Ng);  // stored [k][n]
  }
}

template <class Frag>
__device__ __forceinline__ void ToTf32(Frag& f) {
#pragma unroll
  for (int t = 0; t < f.num_elements; ++t) f.x[t] = wmma::__float_to_tf32(f.x[t]);
}

template <bool kTransA, bool kTransB>
__global__ void __launch_bounds__(kThreads)
    PipelinedTf32Kernel(float* c_out, const float* a, const float* b, const float* bias, int M,
                        int Ng, int K, int lda, int ldb, int ldc, bool accumulate) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  extern __shared__ __align__(128) float smem[];
  using LayoutA = std::conditional_t<kTransA, wmma::col_major, wmma::row_major>;
  using LayoutB = std::conditional_t<kTransB, wmma::col_major, wmma::row_major>;
  constexpr int ldsA = kTransA ? kBM + 4 : kBK + 4;
  constexpr int ldsB = kTransB ? kBK + 4 : kBN + 4;

  const int m0 = blockIdx.y * kBM, n0 = blockIdx.x * kBN;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int wm = warp / 4, wn = warp % 4;  // warp tile rows wm*64, columns wn*32
  const auto stage_a = [&](int s) { return smem + s * 2 * kTileFloats; };
  const auto stage_b = [&](int s) { return smem + s * 2 * kTileFloats + kTileFloats; };

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[4][2];
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
    CpAsyncWait<kStages - 2>();  // slice t has landed (for this thread's copies)
    __syncthreads();             // ... and for everyone's; slice t-1's buffer is free again
    const int next = t + kStages - 1;
    if (next < slices) {
      LoadStage<kTransA, kTransB>(stage_a(next % kStages), stage_b(next % kStages), a, b, M, Ng,
                                  K, lda, ldb, m0, n0, next * kBK);
    }
    CpAsyncCommit();
    const float* as = stage_a(t % kStages);
    const float* bs = stage_b(t % kStages);
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, LayoutA> fa[4];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, LayoutB> fb[2];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const int m = wm * 64 + i * 16;
        wmma::load_matrix_sync(fa[i], kTransA ? as + kk * ldsA + m : as + m * ldsA + kk, ldsA);
        ToTf32(fa[i]);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        const int n = wn * 32 + j * 16;
        wmma::load_matrix_sync(fb[j], kTransB ? bs + n * ldsB + kk : bs + kk * ldsB + n, ldsB);
        ToTf32(fb[j]);
      }
#pragma unroll
      for (int i = 0; i < 4; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
  }
  CpAsyncWait<0>();

  // Epilogue: each warp stages one 16x16 accumulator at a time in its own 256 floats.
  float* st = smem + 2 * kStages * kTileFloats + warp * 256;
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

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace

template <bool kTransA, bool kTransB>
Result<bool> TryPipelinedGemm(const LaunchContext& ctx, float* c_out, const float* a,
                              const float* b, const float* bias, int M, int Ng, int K, int lda,
                              int ldb, int ldc, bool accumulate) {
  const int contiguous_a = kTransA ? M : K, contiguous_b = kTransB ? K : Ng;
  if (lda % 4 != 0 || ldb % 4 != 0 || contiguous_a % 4 != 0 || contiguous_b % 4 != 0 ||
      !Aligned16(a) || !Aligned16(b)) {
    return false;
  }
  const dim3 grid(CeilDiv(Ng, kBN), CeilDiv(M, kBM));
  if (grid.y > 65535u) return false;
  auto kernel = PipelinedTf32Kernel<kTransA, kTransB>;
  // Over the default 48 KiB of dynamic shared memory: opt in (once per kernel is enough, but
  // the call is cheap and keeps this stateless).
  CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                  kSmemBytes));
  kernel<<<grid, kThreads, kSmemBytes, ctx.stream>>>(c_out, a, b, bias, M, Ng, K, lda, ldb, ldc,
                                                     accumulate);
  CUDA_CHECK_LAUNCH("PipelinedTf32Kernel");
  return true;
}

template Result<bool> TryPipelinedGemm<false, true>(const LaunchContext&, float*, const float*,
                                                    const float*, const float*, int, int, int,
                                                    int, int, int, bool);
template Result<bool> TryPipelinedGemm<false, false>(const LaunchContext&, float*, const float*,
                                                     const float*, const float*, int, int, int,
                                                     int, int, int, bool);
template Result<bool> TryPipelinedGemm<true, false>(const LaunchContext&, float*, const float*,
                                                    const float*, const float*, int, int, int,
                                                    int, int, int, bool);

}  // namespace plume::kernels::cuda
