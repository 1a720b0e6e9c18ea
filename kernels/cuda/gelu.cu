// GELU, tanh approximation, forward and backward (elementwise over n floats).
//
//   u = sqrt(2/pi) * (x + 0.044715 x^3)
//   forward:  out = 0.5 x (1 + tanh(u))
//   backward: dinp += dout * (0.5 (1 + tanh(u)) + 0.5 x (1 - tanh(u)^2) sqrt(2/pi) (1 + 3*0.044715 x^2))
#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

constexpr int kBlock = 256;
constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;

__global__ void GeluForwardKernel(float* out, const float* inp, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    float x = inp[i];
    float u = kSqrt2OverPi * (x + kCubic * x * x * x);
    out[i] = 0.5f * x * (1.0f + tanhf(u));
  }
}

__global__ void GeluBackwardKernel(float* dinp, const float* inp, const float* dout, size_t n) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < n;
       i += size_t{gridDim.x} * blockDim.x) {
    float x = inp[i];
    float u = kSqrt2OverPi * (x + kCubic * x * x * x);
    float th = tanhf(u);
    float du_dx = kSqrt2OverPi * (1.0f + 3.0f * kCubic * x * x);
    float grad = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du_dx;
    dinp[i] += dout[i] * grad;
  }
}

}  // namespace

Status LaunchGeluForward(const LaunchContext& ctx, float* out, const float* inp, size_t n) {
  if (n == 0) return {};
  GeluForwardKernel<<<GridFor(n, kBlock), kBlock, 0, ctx.stream>>>(out, inp, n);
  CUDA_CHECK_LAUNCH("GeluForwardKernel");
  return {};
}

Status LaunchGeluBackward(const LaunchContext& ctx, float* dinp, const float* inp,
                          const float* dout, size_t n) {
  if (n == 0) return {};
  GeluBackwardKernel<<<GridFor(n, kBlock), kBlock, 0, ctx.stream>>>(dinp, inp, dout, n);
  CUDA_CHECK_LAUNCH("GeluBackwardKernel");
  return {};
}

}  // namespace plume::kernels::cuda
