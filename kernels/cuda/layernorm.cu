// LayerNorm over the channel dimension (eps 1e-5), forward and backward.
//
//   forward:  mean = sum(x)/C, rstd = 1/sqrt(sum((x-mean)^2)/C + eps),
//             out = (x - mean) * rstd * weight + bias
//   backward: n = (x - mean) * rstd, g = dout * weight,
//             dinp    += rstd * (g - mean(g) - n * mean(g * n))
//             dweight += sum over rows of dout * n,  dbias += sum over rows of dout
//
// Forward and dinp use one warp per row. dweight/dbias are column sums over all N rows; to stay
// deterministic without atomics, blocks first write partial sums over fixed row ranges into
// scratch, then a second kernel adds the partials of each column in range order.
#include <string>

#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

constexpr float kEps = 1e-5f;
constexpr int kRowsPerBlock = 8;   // warps per block in the row kernels
constexpr int kChunkRows = 64;     // rows per partial sum in the parameter-gradient pass
constexpr int kColTile = 32;       // columns per block in the parameter-gradient pass
constexpr int kColThreadsY = 8;

// out (N,C), mean (N), rstd (N) <- inp (N,C), weight (C), bias (C). One warp per row.
__global__ void LayerNormForwardKernel(float* out, float* mean, float* rstd, const float* inp,
                                       const float* weight, const float* bias, int N, int C) {
  int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= N) return;  // whole warp leaves together
  const float* x = inp + static_cast<size_t>(row) * C;
  float sum = 0.0f;
  for (int c = lane; c < C; c += 32) sum += x[c];
  float m = WarpSum(sum) / C;
  float sq = 0.0f;
  for (int c = lane; c < C; c += 32) {
    float d = x[c] - m;
    sq += d * d;
  }
  float s = rsqrtf(WarpSum(sq) / C + kEps);
  float* o = out + static_cast<size_t>(row) * C;
  for (int c = lane; c < C; c += 32) o[c] = (x[c] - m) * s * weight[c] + bias[c];
  if (lane == 0) {
    if (mean != nullptr) mean[row] = m;
    if (rstd != nullptr) rstd[row] = s;
  }
}

// dinp (N,C) += ... ; one warp per row.
__global__ void LayerNormBackwardInputKernel(float* dinp, const float* dout, const float* inp,
                                             const float* weight, const float* mean,
                                             const float* rstd, int N, int C) {
  int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32;
  int lane = threadIdx.x % 32;
  if (row >= N) return;
  size_t base = static_cast<size_t>(row) * C;
  float m = mean[row];
  float s = rstd[row];
  float g_sum = 0.0f;
  float gn_sum = 0.0f;
  for (int c = lane; c < C; c += 32) {
    float g = dout[base + c] * weight[c];
    g_sum += g;
    gn_sum += g * (inp[base + c] - m) * s;
  }
  float g_mean = WarpSum(g_sum) / C;
  float gn_mean = WarpSum(gn_sum) / C;
  for (int c = lane; c < C; c += 32) {
    float n = (inp[base + c] - m) * s;
    float g = dout[base + c] * weight[c];
    dinp[base + c] += s * (g - g_mean - n * gn_mean);
  }
}

// Partial column sums over the rows [chunk*kChunkRows, +kChunkRows).
// grid (ceil(C/kColTile), chunks), block (kColTile, kColThreadsY).
// partial_dw, partial_db: (chunks, C).
__global__ void LayerNormParamPartialKernel(float* partial_dw, float* partial_db,
                                            const float* dout, const float* inp,
                                            const float* mean, const float* rstd, int N, int C) {
  __shared__ float sdw[kColThreadsY][kColTile];
  __shared__ float sdb[kColThreadsY][kColTile];
  int c = blockIdx.x * kColTile + threadIdx.x;
  int row_begin = blockIdx.y * kChunkRows;
  int row_end = min(row_begin + kChunkRows, N);
  float dw = 0.0f;
  float db = 0.0f;
  if (c < C) {
    for (int r = row_begin + threadIdx.y; r < row_end; r += kColThreadsY) {
      size_t i = static_cast<size_t>(r) * C + c;
      float n = (inp[i] - mean[r]) * rstd[r];
      dw += dout[i] * n;
      db += dout[i];
    }
  }
  sdw[threadIdx.y][threadIdx.x] = dw;
  sdb[threadIdx.y][threadIdx.x] = db;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    for (int y = 1; y < kColThreadsY; ++y) {
      dw += sdw[y][threadIdx.x];
      db += sdb[y][threadIdx.x];
    }
    size_t out = static_cast<size_t>(blockIdx.y) * C + c;
    partial_dw[out] = dw;
    partial_db[out] = db;
  }
}

// dweight (C) += sum_k partial_dw[k, :]; dbias likewise; chunks summed in order.
__global__ void LayerNormParamFinalKernel(float* dweight, float* dbias, const float* partial_dw,
                                          const float* partial_db, int chunks, int C) {
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  float dw = 0.0f;
  float db = 0.0f;
  for (int k = 0; k < chunks; ++k) {
    dw += partial_dw[static_cast<size_t>(k) * C + c];
    db += partial_db[static_cast<size_t>(k) * C + c];
  }
  if (dweight != nullptr) dweight[c] += dw;
  if (dbias != nullptr) dbias[c] += db;
}

Status CheckSizes(const char* op, int N, int C) {
  if (N <= 0 || C <= 0) {
    return Fail(std::string(op) + ": N and C must be positive (got N=" + std::to_string(N) +
                ", C=" + std::to_string(C) + ")");
  }
  return {};
}

}  // namespace

Status LaunchLayerNormForward(const LaunchContext& ctx, float* out, float* mean, float* rstd,
                              const float* inp, const float* weight, const float* bias, int N,
                              int C) {
  if (auto st = CheckSizes("LayerNormForward", N, C); !st) return st;
  unsigned int blocks = CeilDiv(N, kRowsPerBlock);
  LayerNormForwardKernel<<<blocks, kRowsPerBlock * 32, 0, ctx.stream>>>(out, mean, rstd, inp,
                                                                        weight, bias, N, C);
  CUDA_CHECK_LAUNCH("LayerNormForwardKernel");
  return {};
}

Status LaunchLayerNormBackward(const LaunchContext& ctx, float* dinp, float* dweight, float* dbias,
                               const float* dout, const float* inp, const float* weight,
                               const float* mean, const float* rstd, int N, int C) {
  if (auto st = CheckSizes("LayerNormBackward", N, C); !st) return st;
  if (dinp != nullptr) {
    unsigned int blocks = CeilDiv(N, kRowsPerBlock);
    LayerNormBackwardInputKernel<<<blocks, kRowsPerBlock * 32, 0, ctx.stream>>>(
        dinp, dout, inp, weight, mean, rstd, N, C);
    CUDA_CHECK_LAUNCH("LayerNormBackwardInputKernel");
  }
  if (dweight == nullptr && dbias == nullptr) return {};

  int chunks = CeilDiv(N, kChunkRows);
  if (chunks > 65535) return Fail("LayerNormBackward: N too large (at most 4194240 rows)");
  size_t partial_floats = static_cast<size_t>(chunks) * C;
  auto scratch = ctx.scratch->Get(2 * partial_floats * sizeof(float));
  if (!scratch) return tl::unexpected(scratch.error());
  float* partial_dw = static_cast<float*>(*scratch);
  float* partial_db = partial_dw + partial_floats;

  dim3 grid(CeilDiv(C, kColTile), chunks);
  dim3 block(kColTile, kColThreadsY);
  LayerNormParamPartialKernel<<<grid, block, 0, ctx.stream>>>(partial_dw, partial_db, dout, inp,
                                                              mean, rstd, N, C);
  CUDA_CHECK_LAUNCH("LayerNormParamPartialKernel");
  LayerNormParamFinalKernel<<<CeilDiv(C, 256), 256, 0, ctx.stream>>>(dweight, dbias, partial_dw,
                                                                      partial_db, chunks, C);
  CUDA_CHECK_LAUNCH("LayerNormParamFinalKernel");
  return {};
}

}  // namespace plume::kernels::cuda
