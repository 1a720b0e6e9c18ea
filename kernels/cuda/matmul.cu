// Matmul with bias on tensor cores (WMMA, TF32 inputs, FP32 accumulate), forward and backward.
// The kernel below is the default. PLUME_CUDA_MATMUL (cuda_kernel_choice.h) selects instead the
// pipelined TF32 kernel of matmul_pipelined.cu (same bits; operands with 16-byte aligned rows,
// else this kernel) or the BF16 kernel of matmul_bf16.cu (other bits).
//
//   forward:  out (N,OC)   = inp (N,C) @ weight (OC,C)^T + bias (OC)
//   backward: dinp (N,C)   += dout (N,OC) @ weight (OC,C)
//             dweight (OC,C) += dout^T (OC,N) @ inp (N,C)
//             dbias (OC)   += column sums of dout
//
// All three products go through one kernel, C (M,Ng) (+)= A (M,K) B (K,Ng), templated on whether
// A and B are read transposed. A block computes a 128x64 tile of C: it stages 128x32 of A and
// 32x64 of B in shared memory (converted to TF32 once, zero-padded past the matrix edges, so any
// size works), and its 8 warps each own a 32x32 piece as 2x2 WMMA 16x16x8 accumulators. Each
// output element is summed by one warp in a fixed k order, so results are deterministic. TF32
// keeps 10 mantissa bits: expect relative errors around 1e-3 against an FP32 reference.
#include <mma.h>

#include <string>

#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

using namespace nvcuda;

constexpr int kBM = 128;  // block tile rows (M)
constexpr int kBN = 64;   // block tile columns (Ng)
constexpr int kBK = 32;   // k slice staged per step
constexpr int kWarpsN = 2;  // warps laid out 4 (M) x 2 (Ng), each owning 32x32
constexpr int kThreads = 256;
constexpr int kPad = 4;  // floats of row padding: fewer bank conflicts, keeps 32-byte alignment
constexpr int kLdA = kBK + kPad;
constexpr int kLdB = kBN + kPad;

// C (M,Ng) row-major with leading dimension ldc. A(m,k) = kTransA ? A[k*lda+m] : A[m*lda+k];
// B(k,n) = kTransB ? B[n*ldb+k] : B[k*ldb+n]. bias (Ng) may be null. grid (ceil(Ng/64),
// ceil(M/128)), block 256.
template <bool kTransA, bool kTransB>
__global__ void __launch_bounds__(kThreads)
    MatmulTf32Kernel(float* c_out, const float* a, const float* b, const float* bias, int M,
                     int Ng, int K, int lda, int ldb, int ldc, bool accumulate) {
#if !defined(__CUDA_ARCH__) || __CUDA_ARCH__ >= 800
  __shared__ __align__(128) float as[kBM * kLdA];
  __shared__ __align__(128) float bs[kBK * kLdB];
  __shared__ __align__(128) float stage[kThreads / 32][16 * 16];

  const int m0 = blockIdx.y * kBM;
  const int n0 = blockIdx.x * kBN;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  const int wm = warp / kWarpsN;  // 0..3
  const int wn = warp % kWarpsN;  // 0..1

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int k0 = 0; k0 < K; k0 += kBK) {
    // Stage A: walk the contiguous dimension of global memory with consecutive threads.
    for (int e = threadIdx.x; e < kBM * kBK; e += kThreads) {
      int m = kTransA ? e % kBM : e / kBK;
      int k = kTransA ? e / kBM : e % kBK;
      int gm = m0 + m;
      int gk = k0 + k;
      float v = 0.0f;
      if (gm < M && gk < K) {
        v = kTransA ? a[static_cast<size_t>(gk) * lda + gm] : a[static_cast<size_t>(gm) * lda + gk];
      }
      as[m * kLdA + k] = wmma::__float_to_tf32(v);
    }
    for (int e = threadIdx.x; e < kBK * kBN; e += kThreads) {
      int n = kTransB ? e / kBK : e % kBN;
      int k = kTransB ? e % kBK : e / kBN;
      int gn = n0 + n;
      int gk = k0 + k;
      float v = 0.0f;
      if (gn < Ng && gk < K) {
        v = kTransB ? b[static_cast<size_t>(gn) * ldb + gk] : b[static_cast<size_t>(gk) * ldb + gn];
      }
      bs[k * kLdB + n] = wmma::__float_to_tf32(v);
    }
    __syncthreads();

#pragma unroll
    for (int kk = 0; kk < kBK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        wmma::load_matrix_sync(fa[i], as + (wm * 32 + i * 16) * kLdA + kk, kLdA);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        wmma::load_matrix_sync(fb[j], bs + kk * kLdB + wn * 32 + j * 16, kLdB);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();  // the next k step overwrites as/bs
  }

  // Epilogue: each warp stages one 16x16 accumulator at a time and writes the part inside C.
  float* st = stage[warp];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      wmma::store_matrix_sync(st, acc[i][j], 16, wmma::mem_row_major);
      __syncwarp();
      for (int e = lane; e < 256; e += 32) {
        int gm = m0 + wm * 32 + i * 16 + e / 16;
        int gn = n0 + wn * 32 + j * 16 + e % 16;
        if (gm < M && gn < Ng) {
          float v = st[e];
          if (bias != nullptr) v += bias[gn];
          float* dst = c_out + static_cast<size_t>(gm) * ldc + gn;
          *dst = accumulate ? *dst + v : v;
        }
      }
      __syncwarp();  // st is overwritten by the next fragment
    }
  }
#endif
}

// dbias (OC) += sum over rows of dout (N,OC). grid ceil(OC/32), block (32, 16): thread (x, y)
// sums rows y, y+16, ... of column x; the 16 partials are then added in y order.
__global__ void ColumnSumKernel(float* dbias, const float* dout, int N, int OC) {
  __shared__ float partial[16][32];
  int c = blockIdx.x * 32 + threadIdx.x;
  float sum = 0.0f;
  if (c < OC) {
    for (int r = threadIdx.y; r < N; r += 16) sum += dout[static_cast<size_t>(r) * OC + c];
  }
  partial[threadIdx.y][threadIdx.x] = sum;
  __syncthreads();
  if (threadIdx.y == 0 && c < OC) {
    for (int y = 1; y < 16; ++y) sum += partial[y][threadIdx.x];
    dbias[c] += sum;
  }
}

template <bool kTransA, bool kTransB>
Status Gemm(const LaunchContext& ctx, const char* name, float* c_out, const float* a,
            const float* b, const float* bias, int M, int Ng, int K, int lda, int ldb, int ldc,
            bool accumulate) {
  if (ctx.kernels.matmul == CudaMatmulKernel::kBf16) {
    return Bf16Gemm<kTransA, kTransB>(ctx, c_out, a, b, bias, M, Ng, K, lda, ldb, ldc, accumulate);
  }
  if (ctx.kernels.matmul == CudaMatmulKernel::kPipelinedTf32) {
    auto fast = TryPipelinedGemm<kTransA, kTransB>(ctx, c_out, a, b, bias, M, Ng, K, lda, ldb,
                                                   ldc, accumulate);
    if (!fast) return tl::unexpected(fast.error());
    if (*fast) return {};
  }
  dim3 grid(CeilDiv(Ng, kBN), CeilDiv(M, kBM));
  if (grid.y > 65535u) {
    return Fail(std::string(name) + ": " + std::to_string(M) + " rows exceed the grid limit");
  }
  MatmulTf32Kernel<kTransA, kTransB><<<grid, kThreads, 0, ctx.stream>>>(
      c_out, a, b, bias, M, Ng, K, lda, ldb, ldc, accumulate);
  CUDA_CHECK_LAUNCH("MatmulTf32Kernel");
  return {};
}

Status CheckSizes(const char* op, int N, int C, int OC) {
  if (N <= 0 || C <= 0 || OC <= 0) {
    return Fail(std::string(op) + ": N, C, OC must be positive (got " + std::to_string(N) + ", " +
                std::to_string(C) + ", " + std::to_string(OC) + ")");
  }
  return {};
}

}  // namespace

Status LaunchMatmulForward(const LaunchContext& ctx, float* out, const float* inp,
                           const float* weight, const float* bias, int N, int C, int OC) {
  if (auto st = CheckSizes("MatmulForward", N, C, OC); !st) return st;
  // A = inp (N,C); B(k,n) = weight[n][k].
  return Gemm<false, true>(ctx, "MatmulForward", out, inp, weight, bias, N, OC, C, C, C, OC,
                           /*accumulate=*/false);
}

Status LaunchMatmulBackward(const LaunchContext& ctx, float* dinp, float* dweight, float* dbias,
                            const float* dout, const float* inp, const float* weight, int N, int C,
                            int OC) {
  if (auto st = CheckSizes("MatmulBackward", N, C, OC); !st) return st;
  if (dinp != nullptr) {
    // dinp (N,C) += dout (N,OC) @ weight (OC,C): A = dout, B = weight, both as stored.
    auto st = Gemm<false, false>(ctx, "MatmulBackward(dinp)", dinp, dout, weight, nullptr, N, C,
                                 OC, OC, C, C, /*accumulate=*/true);
    if (!st) return st;
  }
  if (dweight != nullptr) {
    // dweight (OC,C) += dout^T @ inp: A(m,k) = dout[k][m], B = inp as stored.
    auto st = Gemm<true, false>(ctx, "MatmulBackward(dweight)", dweight, dout, inp, nullptr, OC,
                                C, N, OC, C, C, /*accumulate=*/true);
    if (!st) return st;
  }
  if (dbias != nullptr) {
    ColumnSumKernel<<<CeilDiv(OC, 32), dim3(32, 16), 0, ctx.stream>>>(dbias, dout, N, OC);
    CUDA_CHECK_LAUNCH("ColumnSumKernel");
  }
  return {};
}

}  // namespace plume::kernels::cuda
