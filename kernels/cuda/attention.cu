// Causal multi-head self-attention in the flash-attention manner, forward and backward.
//
// qkv (B,T,3C) holds q|k|v, each (B,T,NH,HS); out (B,T,C); lse (B,NH,T). scale = 1/sqrt(HS).
//   s_ij = scale * q_i.k_j (j <= i),  lse_i = log sum_j exp(s_ij),  P_ij = exp(s_ij - lse_i)
//   out_i = sum_j P_ij v_j
// backward, with D_i = dout_i.out_i (= sum_j P_ij dout_i.v_j):
//   dv_j += sum_i P_ij dout_i,  dS_ij = P_ij (dout_i.v_j - D_i)
//   dq_i += scale sum_j dS_ij k_j,  dk_j += scale sum_i dS_ij q_i
//
// Forward: a block owns 16 query rows of one (b, h) (4 warps x 4 rows) and streams the keys in
// tiles of 32 through shared memory, keeping a running max m, sum l and output accumulator per
// row (online softmax); nothing of size TxT is ever stored. Within a warp lane j scores key j,
// and lane d accumulates output dims d, d+32, ... (HS <= 128).
// Backward: P is recomputed from q, k and lse. Two kernels avoid atomics: one per query tile
// computes dq (loop over key tiles), one per key tile computes dk and dv (loop over query
// tiles). Every gradient element is summed by one warp in a fixed order: deterministic.
// PLUME_CUDA_ATTENTION=bf16 (cuda_kernel_choice.h) runs the forward on tensor cores instead
// (attention_bf16.cu); the backward is this file's in either case.
#include <string>

#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRowsPerWarp = 4;
constexpr int kRowTile = kWarps * kRowsPerWarp;  // rows (queries or keys) a block owns
constexpr int kTile = 32;                        // streamed rows per step: one per lane
constexpr int kMaxHS = 128;
constexpr int kDims = kMaxHS / 32;  // output dims per lane
constexpr unsigned kFull = 0xffffffffu;

// Offsets of head h's q, k, v for token row bt (= b*T + t) inside qkv.
__device__ __forceinline__ size_t QkvIndex(int bt, int which, int h, int C, int HS) {
  return static_cast<size_t>(bt) * 3 * C + static_cast<size_t>(which) * C + h * HS;
}

// Loads rows [t0, t0+rows) of one of q/k/v (which) or of a (B,T,C) tensor (src3c == false)
// for head h into shared dst with row stride ld; rows past T are zero.
__device__ void LoadRows(float* dst, int ld, const float* src, bool src3c, int which, int b,
                         int h, int t0, int rows, int T, int C, int HS) {
  for (int e = threadIdx.x; e < rows * HS; e += blockDim.x) {
    int r = e / HS;
    int d = e % HS;
    int t = t0 + r;
    float v = 0.0f;
    if (t < T) {
      int bt = b * T + t;
      v = src3c ? src[QkvIndex(bt, which, h, C, HS) + d]
                : src[static_cast<size_t>(bt) * C + h * HS + d];
    }
    dst[r * ld + d] = v;
  }
}

__device__ __forceinline__ float Dot(const float* x, const float* y, int n) {
  float s = 0.0f;
  for (int d = 0; d < n; ++d) s += x[d] * y[d];
  return s;
}

// grid (ceil(T/16), B*NH), block 128, dynamic smem (16*HS + 32*(HS+1) + 32*HS) floats.
__global__ void __launch_bounds__(kThreads)
    AttentionForwardKernel(float* out, float* lse, const float* qkv, int T, int C, int NH,
                           int HS, float scale) {
  extern __shared__ float smem[];
  float* qs = smem;                      // [16][HS]
  float* ks = qs + kRowTile * HS;        // [32][HS+1], padded: lane j reads row j
  float* vs = ks + kTile * (HS + 1);     // [32][HS]
  const int b = blockIdx.y / NH;
  const int h = blockIdx.y % NH;
  const int q0 = blockIdx.x * kRowTile;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  LoadRows(qs, HS, qkv, true, 0, b, h, q0, kRowTile, T, C, HS);

  float m[kRowsPerWarp], l[kRowsPerWarp], acc[kRowsPerWarp][kDims];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    m[r] = -INFINITY;
    l[r] = 0.0f;
#pragma unroll
    for (int i = 0; i < kDims; ++i) acc[r][i] = 0.0f;
  }
  const int q_last = min(q0 + kRowTile, T) - 1;
  for (int k0 = 0; k0 <= q_last; k0 += kTile) {
    __syncthreads();  // previous tile fully consumed (and qs loaded, first time round)
    LoadRows(ks, HS + 1, qkv, true, 1, b, h, k0, kTile, T, C, HS);
    LoadRows(vs, HS, qkv, true, 2, b, h, k0, kTile, T, C, HS);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int qi = warp * kRowsPerWarp + r;
      const int tq = q0 + qi;
      if (tq >= T) continue;  // uniform across the warp
      const int tk = k0 + lane;
      float s = -INFINITY;
      if (tk <= tq) s = scale * Dot(qs + qi * HS, ks + lane * (HS + 1), HS);
      const float tile_max = WarpMax(s);
      if (tile_max == -INFINITY) continue;  // no visible key here for this row (warp-uniform)
      const float m_new = fmaxf(m[r], tile_max);
      const float p = s == -INFINITY ? 0.0f : expf(s - m_new);
      const float correction = expf(m[r] - m_new);  // 0 while m is still -inf
      l[r] = l[r] * correction + WarpSum(p);
#pragma unroll
      for (int i = 0; i < kDims; ++i) acc[r][i] *= correction;
      for (int j = 0; j < kTile; ++j) {
        const float pj = __shfl_sync(kFull, p, j);
#pragma unroll
        for (int i = 0; i < kDims; ++i) {
          const int d = lane + 32 * i;
          if (d < HS) acc[r][i] += pj * vs[j * HS + d];
        }
      }
      m[r] = m_new;
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int tq = q0 + warp * kRowsPerWarp + r;
    if (tq >= T) continue;
    const size_t row = static_cast<size_t>(b * T + tq) * C + h * HS;
    const float inv_l = 1.0f / l[r];  // l >= 1: key tq itself scores exp(0) after the shift
#pragma unroll
    for (int i = 0; i < kDims; ++i) {
      const int d = lane + 32 * i;
      if (d < HS) out[row + d] = acc[r][i] * inv_l;
    }
    if (lane == 0) lse[static_cast<size_t>(blockIdx.y) * T + tq] = m[r] + logf(l[r]);
  }
}

// D (B,NH,T) = rowwise dout.out per head; one warp per (b, t, h).
__global__ void AttentionRowDotKernel(float* D, const float* dout, const float* out, int B,
                                      int T, int C, int NH, int HS) {
  const int row = blockIdx.x * kWarps + threadIdx.x / 32;  // (b*T + t)*NH + h
  const int lane = threadIdx.x % 32;
  if (row >= B * T * NH) return;
  const int h = row % NH;
  const int bt = row / NH;
  const size_t base = static_cast<size_t>(bt) * C + h * HS;
  float s = 0.0f;
  for (int d = lane; d < HS; d += 32) s += dout[base + d] * out[base + d];
  s = WarpSum(s);
  const int b = bt / T;
  const int t = bt % T;
  if (lane == 0) D[(static_cast<size_t>(b) * NH + h) * T + t] = s;
}

// dq for 16 query rows of one (b, h); streams key tiles. grid (ceil(T/16), B*NH), block 128.
// smem: qs [16][HS], dos [16][HS], ks [32][HS+1], vs [32][HS+1].
__global__ void __launch_bounds__(kThreads)
    AttentionBackwardQueryKernel(float* dqkv, const float* dout, const float* qkv,
                                 const float* lse, const float* D, int T, int C, int NH, int HS,
                                 float scale) {
  extern __shared__ float smem[];
  float* qs = smem;
  float* dos = qs + kRowTile * HS;
  float* ks = dos + kRowTile * HS;
  float* vs = ks + kTile * (HS + 1);
  const int b = blockIdx.y / NH;
  const int h = blockIdx.y % NH;
  const int q0 = blockIdx.x * kRowTile;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  LoadRows(qs, HS, qkv, true, 0, b, h, q0, kRowTile, T, C, HS);
  LoadRows(dos, HS, dout, false, 0, b, h, q0, kRowTile, T, C, HS);

  float dq[kRowsPerWarp][kDims] = {};
  const int q_last = min(q0 + kRowTile, T) - 1;
  for (int k0 = 0; k0 <= q_last; k0 += kTile) {
    __syncthreads();
    LoadRows(ks, HS + 1, qkv, true, 1, b, h, k0, kTile, T, C, HS);
    LoadRows(vs, HS + 1, qkv, true, 2, b, h, k0, kTile, T, C, HS);
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int qi = warp * kRowsPerWarp + r;
      const int tq = q0 + qi;
      if (tq >= T) continue;
      const size_t stat = static_cast<size_t>(blockIdx.y) * T + tq;
      const int tk = k0 + lane;
      float ds = 0.0f;
      if (tk <= tq) {
        const float s = scale * Dot(qs + qi * HS, ks + lane * (HS + 1), HS);
        const float p = expf(s - lse[stat]);
        const float dp = Dot(dos + qi * HS, vs + lane * (HS + 1), HS);
        ds = p * (dp - D[stat]);
      }
      for (int j = 0; j < kTile; ++j) {
        const float dsj = __shfl_sync(kFull, ds, j);
#pragma unroll
        for (int i = 0; i < kDims; ++i) {
          const int d = lane + 32 * i;
          if (d < HS) dq[r][i] += dsj * ks[j * (HS + 1) + d];
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int tq = q0 + warp * kRowsPerWarp + r;
    if (tq >= T) continue;
    const size_t row = QkvIndex(b * T + tq, 0, h, C, HS);
#pragma unroll
    for (int i = 0; i < kDims; ++i) {
      const int d = lane + 32 * i;
      if (d < HS) dqkv[row + d] += scale * dq[r][i];
    }
  }
}

// dk, dv for 16 key rows of one (b, h); streams the query tiles that can see them.
// grid (ceil(T/16), B*NH), block 128. smem: kr [16][HS], vr [16][HS], qs [32][HS+1],
// dos [32][HS+1], lse_s [32], d_s [32].
__global__ void __launch_bounds__(kThreads)
    AttentionBackwardKeyKernel(float* dqkv, const float* dout, const float* qkv,
                               const float* lse, const float* D, int T, int C, int NH, int HS,
                               float scale) {
  extern __shared__ float smem[];
  float* kr = smem;
  float* vr = kr + kRowTile * HS;
  float* qs = vr + kRowTile * HS;
  float* dos = qs + kTile * (HS + 1);
  float* lse_s = dos + kTile * (HS + 1);
  float* d_s = lse_s + kTile;
  const int b = blockIdx.y / NH;
  const int h = blockIdx.y % NH;
  const int k0 = blockIdx.x * kRowTile;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  LoadRows(kr, HS, qkv, true, 1, b, h, k0, kRowTile, T, C, HS);
  LoadRows(vr, HS, qkv, true, 2, b, h, k0, kRowTile, T, C, HS);

  float dk[kRowsPerWarp][kDims] = {};
  float dv[kRowsPerWarp][kDims] = {};
  // Queries before k0 cannot see any key of this block (causal).
  for (int q0 = (k0 / kTile) * kTile; q0 < T; q0 += kTile) {
    __syncthreads();
    LoadRows(qs, HS + 1, qkv, true, 0, b, h, q0, kTile, T, C, HS);
    LoadRows(dos, HS + 1, dout, false, 0, b, h, q0, kTile, T, C, HS);
    if (threadIdx.x < kTile) {
      const int tq = q0 + threadIdx.x;
      const size_t stat = static_cast<size_t>(blockIdx.y) * T + tq;
      lse_s[threadIdx.x] = tq < T ? lse[stat] : 0.0f;
      d_s[threadIdx.x] = tq < T ? D[stat] : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      const int ki = warp * kRowsPerWarp + r;
      const int tk = k0 + ki;
      if (tk >= T) continue;
      const int tq = q0 + lane;
      float p = 0.0f;
      float ds = 0.0f;
      if (tq < T && tq >= tk) {
        const float s = scale * Dot(qs + lane * (HS + 1), kr + ki * HS, HS);
        p = expf(s - lse_s[lane]);
        const float dp = Dot(dos + lane * (HS + 1), vr + ki * HS, HS);
        ds = p * (dp - d_s[lane]);
      }
      for (int j = 0; j < kTile; ++j) {
        const float pj = __shfl_sync(kFull, p, j);
        const float dsj = __shfl_sync(kFull, ds, j);
#pragma unroll
        for (int i = 0; i < kDims; ++i) {
          const int d = lane + 32 * i;
          if (d < HS) {
            dv[r][i] += pj * dos[j * (HS + 1) + d];
            dk[r][i] += dsj * qs[j * (HS + 1) + d];
          }
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int tk = k0 + warp * kRowsPerWarp + r;
    if (tk >= T) continue;
    const size_t krow = QkvIndex(b * T + tk, 1, h, C, HS);
    const size_t vrow = QkvIndex(b * T + tk, 2, h, C, HS);
#pragma unroll
    for (int i = 0; i < kDims; ++i) {
      const int d = lane + 32 * i;
      if (d < HS) {
        dqkv[krow + d] += scale * dk[r][i];
        dqkv[vrow + d] += dv[r][i];
      }
    }
  }
}

Status CheckShape(const char* op, int B, int T, int C, int NH) {
  if (B <= 0 || T <= 0 || C <= 0 || NH <= 0 || C % NH != 0) {
    return Fail(std::string(op) + ": need positive B, T, C, NH with C divisible by NH (got B=" +
                std::to_string(B) + " T=" + std::to_string(T) + " C=" + std::to_string(C) +
                " NH=" + std::to_string(NH) + ")");
  }
  if (C / NH > kMaxHS) {
    return Fail(std::string(op) + ": head size " + std::to_string(C / NH) +
                " exceeds the CUDA kernel's limit of " + std::to_string(kMaxHS) +
                "; use more heads");
  }
  if (static_cast<int64_t>(B) * NH > 65535) return Fail(std::string(op) + ": B*NH > 65535");
  return {};
}

// Kernels needing more than the default 48 KiB of dynamic shared memory must opt in.
template <class Kernel>
Status AllowSmem(Kernel kernel, size_t bytes) {
  if (bytes > 48 * 1024) {
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                    static_cast<int>(bytes)));
  }
  return {};
}

}  // namespace

Status LaunchAttentionForward(const LaunchContext& ctx, float* out, float* lse, const float* qkv,
                              int B, int T, int C, int NH) {
  if (auto st = CheckShape("AttentionForward", B, T, C, NH); !st) return st;
  if (ctx.kernels.attention == CudaAttentionKernel::kBf16) {
    return LaunchAttentionForwardBf16(ctx, out, lse, qkv, B, T, C, NH);
  }
  const int HS = C / NH;
  const size_t smem = sizeof(float) * (kRowTile * HS + kTile * (HS + 1) + kTile * HS);
  if (auto st = AllowSmem(AttentionForwardKernel, smem); !st) return st;
  dim3 grid(CeilDiv(T, kRowTile), B * NH);
  AttentionForwardKernel<<<grid, kThreads, smem, ctx.stream>>>(out, lse, qkv, T, C, NH, HS,
                                                               1.0f / sqrtf(static_cast<float>(HS)));
  CUDA_CHECK_LAUNCH("AttentionForwardKernel");
  return {};
}

Status LaunchAttentionBackward(const LaunchContext& ctx, float* dqkv, const float* dout,
                               const float* qkv, const float* out, const float* lse, int B, int T,
                               int C, int NH) {
  if (auto st = CheckShape("AttentionBackward", B, T, C, NH); !st) return st;
  const int HS = C / NH;
  const float scale = 1.0f / sqrtf(static_cast<float>(HS));
  const size_t rows = static_cast<size_t>(B) * NH * T;
  auto scratch = ctx.scratch->Get(rows * sizeof(float));
  if (!scratch) return tl::unexpected(scratch.error());
  float* D = static_cast<float*>(*scratch);

  AttentionRowDotKernel<<<GridFor(rows, kWarps, 0x7fffffffu), kThreads, 0, ctx.stream>>>(
      D, dout, out, B, T, C, NH, HS);
  CUDA_CHECK_LAUNCH("AttentionRowDotKernel");

  dim3 grid(CeilDiv(T, kRowTile), B * NH);
  const size_t smem_q = sizeof(float) * (2 * kRowTile * HS + 2 * kTile * (HS + 1));
  if (auto st = AllowSmem(AttentionBackwardQueryKernel, smem_q); !st) return st;
  AttentionBackwardQueryKernel<<<grid, kThreads, smem_q, ctx.stream>>>(dqkv, dout, qkv, lse, D, T,
                                                                       C, NH, HS, scale);
  CUDA_CHECK_LAUNCH("AttentionBackwardQueryKernel");

  const size_t smem_k = sizeof(float) * (2 * kRowTile * HS + 2 * kTile * (HS + 1) + 2 * kTile);
  if (auto st = AllowSmem(AttentionBackwardKeyKernel, smem_k); !st) return st;
  AttentionBackwardKeyKernel<<<grid, kThreads, smem_k, ctx.stream>>>(dqkv, dout, qkv, lse, D, T,
                                                                     C, NH, HS, scale);
  CUDA_CHECK_LAUNCH("AttentionBackwardKeyKernel");
  return {};
}

}  // namespace plume::kernels::cuda
