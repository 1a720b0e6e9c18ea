// Gradient global norm (for clipping) and the small elementwise helpers Scale and Fill.
//
//   sumsq = sum_i x_i^2  (GlobalNorm returns sqrt(sumsq) on the host)
//   Scale: x *= factor;  Fill: dst = value
//
// The sum is deterministic without atomics: pass 1 runs a fixed number of blocks (a function of
// n only, never of the device) where each thread sums a fixed grid-stride subsequence and the
// block reduces in a fixed tree; pass 2, one block, adds the block partials in the same way.
#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

constexpr int kBlock = 256;
constexpr unsigned int kMaxPartials = 1024;

__global__ void SumOfSquaresPartialKernel(float* partials, const float* x, size_t n) {
  __shared__ float scratch[32];
  float s = 0.0f;
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    s += x[i] * x[i];
  }
  s = BlockSum(s, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

__global__ void SumPartialsKernel(float* result, const float* partials, int count) {
  __shared__ float scratch[32];
  float s = 0.0f;
  for (int i = threadIdx.x; i < count; i += blockDim.x) s += partials[i];
  s = BlockSum(s, scratch);
  if (threadIdx.x == 0) *result = s;
}

__global__ void ScaleKernel(float* x, float factor, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    x[i] *= factor;
  }
}

__global__ void FillKernel(float* dst, float value, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    dst[i] = value;
  }
}

}  // namespace

Status LaunchSumOfSquares(const LaunchContext& ctx, float* sumsq_device, const float* x,
                          size_t n) {
  unsigned int blocks = GridFor(n, kBlock, kMaxPartials);
  auto scratch = ctx.scratch->Get(blocks * sizeof(float));
  if (!scratch) return tl::unexpected(scratch.error());
  float* partials = static_cast<float*>(*scratch);
  SumOfSquaresPartialKernel<<<blocks, kBlock, 0, ctx.stream>>>(partials, x, n);
  CUDA_CHECK_LAUNCH("SumOfSquaresPartialKernel");
  SumPartialsKernel<<<1, kBlock, 0, ctx.stream>>>(sumsq_device, partials,
                                                  static_cast<int>(blocks));
  CUDA_CHECK_LAUNCH("SumPartialsKernel");
  return {};
}

Status LaunchScale(const LaunchContext& ctx, float* x, float factor, size_t n) {
  if (n == 0) return {};
  ScaleKernel<<<GridFor(n, kBlock), kBlock, 0, ctx.stream>>>(x, factor, n);
  CUDA_CHECK_LAUNCH("ScaleKernel");
  return {};
}

Status LaunchFill(const LaunchContext& ctx, float* dst, float value, size_t n) {
  if (n == 0) return {};
  FillKernel<<<GridFor(n, kBlock), kBlock, 0, ctx.stream>>>(dst, value, n);
  CUDA_CHECK_LAUNCH("FillKernel");
  return {};
}

}  // namespace plume::kernels::cuda
