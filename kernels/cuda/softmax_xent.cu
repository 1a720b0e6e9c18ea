// Fused softmax + cross-entropy over the vocabulary, and plain softmax with temperature.
//
// Per row i of logits x (N,Vp), of which columns [0,V) are real, target y = targets[i]:
//   m = max_j x_j,  Z = sum_j exp(x_j - m),  p_j = exp(x_j - m) / Z
//   loss_i = log Z + m - x_y
//   dlogits[i,j] = loss_scale * (p_j - [j == y])   written over x; 0 in padding columns
//   probs (optional) = p, 0 in padding columns
// Softmax: p = softmax(x / temperature) over [0,V), 0 in padding columns.
//
// One block per row; max and sum are block reductions in a fixed order (common.cuh). A target
// outside [0,V) cannot be reported from the device, so its loss is NaN (the CPU backend rejects
// it up front); callers validate targets on the host, as the runner does for every batch.
#include <cmath>
#include <string>

#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

constexpr int kBlock = 512;

struct RowStats {
  float max;
  float sum;
};

// Max and sum of exp(x*inv_temp - max) over x[0..V); every thread of the block gets them.
__device__ RowStats BlockRowStats(const float* x, int V, float inv_temp, float* scratch) {
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, x[j] * inv_temp);
  mx = BlockMax(mx, scratch);
  float sum = 0.0f;
  for (int j = threadIdx.x; j < V; j += blockDim.x) sum += expf(x[j] * inv_temp - mx);
  sum = BlockSum(sum, scratch);
  return RowStats{mx, sum};
}

// grid N, block 512.
__global__ void SoftmaxCrossEntropyKernel(float* logits, float* losses, float* probs,
                                          const int32_t* targets, int V, int Vp,
                                          float loss_scale, bool write_dlogits,
                                          int* error_flags) {
  __shared__ float scratch[32];
  const size_t row = blockIdx.x;
  float* x = logits + row * Vp;
  const int y = targets[row];
  const bool valid = y >= 0 && y < V;
  if (!valid && threadIdx.x == 0) atomicOr(error_flags, kBadTargetFlag);
  // Read x[y] before the reductions: their barriers order it before any thread overwrites x.
  const float x_y = valid ? x[y] : 0.0f;
  const RowStats st = BlockRowStats(x, V, 1.0f, scratch);
  if (threadIdx.x == 0 && losses != nullptr) {
    losses[row] = valid ? logf(st.sum) + st.max - x_y : NAN;
  }
  const float inv_sum = 1.0f / st.sum;
  float* pr = probs == nullptr ? nullptr : probs + row * Vp;
  for (int j = threadIdx.x; j < Vp; j += blockDim.x) {
    const float p = j < V ? expf(x[j] - st.max) * inv_sum : 0.0f;
    if (pr != nullptr) pr[j] = p;
    // A row with a bad target gets no gradient rather than a wrong one.
    if (write_dlogits) x[j] = j < V && valid ? loss_scale * (p - (j == y ? 1.0f : 0.0f)) : 0.0f;
  }
}

// grid N, block 512.
__global__ void SoftmaxKernel(float* probs, const float* logits, int V, int Vp, float inv_temp) {
  __shared__ float scratch[32];
  const size_t row = blockIdx.x;
  const float* x = logits + row * Vp;
  const RowStats st = BlockRowStats(x, V, inv_temp, scratch);
  const float inv_sum = 1.0f / st.sum;
  float* pr = probs + row * Vp;
  for (int j = threadIdx.x; j < Vp; j += blockDim.x) {
    pr[j] = j < V ? expf(x[j] * inv_temp - st.max) * inv_sum : 0.0f;
  }
}

Status CheckVocab(const char* op, int N, int V, int Vp) {
  if (N <= 0 || V <= 0 || Vp < V) {
    return Fail(std::string(op) + ": need N > 0 and 0 < V <= Vp (got N=" + std::to_string(N) +
                " V=" + std::to_string(V) + " Vp=" + std::to_string(Vp) + ")");
  }
  return {};
}

}  // namespace

Status LaunchSoftmaxCrossEntropy(const LaunchContext& ctx, float* logits, float* losses,
                                 float* probs_out, const int32_t* targets, int N, int V, int Vp,
                                 float loss_scale, bool write_dlogits) {
  if (auto st = CheckVocab("SoftmaxCrossEntropy", N, V, Vp); !st) return st;
  if (logits == nullptr || targets == nullptr) {
    return Fail("SoftmaxCrossEntropy: logits and targets must not be null");
  }
  SoftmaxCrossEntropyKernel<<<N, kBlock, 0, ctx.stream>>>(
      logits, losses, probs_out, targets, V, Vp, loss_scale, write_dlogits, ctx.error_flags);
  CUDA_CHECK_LAUNCH("SoftmaxCrossEntropyKernel");
  return {};
}

Status LaunchSoftmax(const LaunchContext& ctx, float* probs, const float* logits, int N, int V,
                     int Vp, float temperature) {
  if (auto st = CheckVocab("Softmax", N, V, Vp); !st) return st;
  if (!(temperature > 0.0f) || !std::isfinite(1.0f / temperature)) {
    return Fail("Softmax: temperature must be positive and not tiny (got " + std::to_string(temperature) +
                "); use greedy sampling for temperature 0");
  }
  SoftmaxKernel<<<N, kBlock, 0, ctx.stream>>>(probs, logits, V, Vp, 1.0f / temperature);
  CUDA_CHECK_LAUNCH("SoftmaxKernel");
  return {};
}

}  // namespace plume::kernels::cuda
