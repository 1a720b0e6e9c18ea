// Residual connection, forward and backward (elementwise over n floats).
//
//   forward:  out = a + b
//   backward: da += dout, db += dout   (da and db may be the same buffer: each thread does its
//             two updates in order, so aliasing gives da += 2 dout, like the CPU reference)
#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

constexpr int kBlock = 256;

__global__ void ResidualForwardKernel(float* out, const float* a, const float* b, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    out[i] = a[i] + b[i];
  }
}

__global__ void ResidualBackwardKernel(float* da, float* db, const float* dout, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    float g = dout[i];
    da[i] += g;
    db[i] += g;
  }
}

}  // namespace

Status LaunchResidualForward(const LaunchContext& ctx, float* out, const float* a, const float* b,
                             size_t n) {
  if (n == 0) return {};
  ResidualForwardKernel<<<GridFor(n, kBlock), kBlock, 0, ctx.stream>>>(out, a, b, n);
  CUDA_CHECK_LAUNCH("ResidualForwardKernel");
  return {};
}

Status LaunchResidualBackward(const LaunchContext& ctx, float* da, float* db, const float* dout,
                              size_t n) {
  if (n == 0) return {};
  ResidualBackwardKernel<<<GridFor(n, kBlock), kBlock, 0, ctx.stream>>>(da, db, dout, n);
  CUDA_CHECK_LAUNCH("ResidualBackwardKernel");
  return {};
}

}  // namespace plume::kernels::cuda
