// Shared helpers of the CUDA backend: error checks that return a Status (an agent must fail the
// task and report it, never exit), ceil_div, and deterministic warp/block reductions.
//
// Included by .cu files (device parts) and by cuda_ops.cc (host parts only).
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "plume/kernels/error.h"

namespace plume::kernels::cuda {

// The error value for a failed CUDA call: what was being done, and CUDA's own words.
inline tl::unexpected<Error> CudaFail(const char* what, cudaError_t err) {
  return Fail(std::string("CUDA error in ") + what + ": " + cudaGetErrorName(err) + " (" +
              cudaGetErrorString(err) + ")");
}

// CUDA_CHECK(expr): evaluate a CUDA runtime call; on failure return the error as a Status from
// the enclosing function (which must return Status or Result<T>).
#define CUDA_CHECK(expr)                                                    \
  do {                                                                      \
    cudaError_t plume_cuda_err_ = (expr);                                   \
    if (plume_cuda_err_ != cudaSuccess) {                                   \
      return ::plume::kernels::cuda::CudaFail(#expr, plume_cuda_err_);      \
    }                                                                       \
  } while (0)

// CUDA_CHECK_LAUNCH(name): after a <<<>>> launch, report a bad configuration or a missing kernel
// image for this device as an error value.
#define CUDA_CHECK_LAUNCH(name)                                             \
  do {                                                                      \
    cudaError_t plume_cuda_err_ = cudaGetLastError();                       \
    if (plume_cuda_err_ != cudaSuccess) {                                   \
      return ::plume::kernels::cuda::CudaFail("launch of " name, plume_cuda_err_); \
    }                                                                       \
  } while (0)

template <class T>
__host__ __device__ constexpr T CeilDiv(T a, T b) {
  return (a + b - 1) / b;
}

// Grid size for a grid-stride loop over n elements: enough blocks to fill the device several
// times over, but a bound that depends only on n so the work split (and with it any reduction
// order) never depends on the device.
inline unsigned int GridFor(size_t n, int block_size, unsigned int max_blocks = 65535u) {
  size_t blocks = (n + static_cast<size_t>(block_size) - 1) / static_cast<size_t>(block_size);
  if (blocks < 1) blocks = 1;
  if (blocks > max_blocks) blocks = max_blocks;
  return static_cast<unsigned int>(blocks);
}

#ifdef __CUDACC__

// Butterfly reductions: every lane ends with the same value, and the combination order is fixed
// by the lane pattern, so the result is bit-identical from run to run.
__device__ __forceinline__ float WarpSum(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float WarpMax(float v) {
  for (int offset = 16; offset > 0; offset >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  return v;
}

// Block-wide sum or max for blockDim.x a multiple of 32 (at most 1024). `scratch` holds 32
// floats of shared memory. Every thread gets the result. Warps combine in index order.
template <bool kMax>
__device__ __forceinline__ float BlockReduce(float v, float* scratch) {
  const int lane = threadIdx.x % 32;
  const int warp = threadIdx.x / 32;
  const int num_warps = blockDim.x / 32;
  v = kMax ? WarpMax(v) : WarpSum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  float identity = kMax ? -INFINITY : 0.0f;
  float w = lane < num_warps ? scratch[lane] : identity;
  return kMax ? WarpMax(w) : WarpSum(w);
}

// Asynchronous 16-byte copy global -> shared (sm_80+), bypassing L1. With valid false nothing is
// read and the 16 bytes are zero-filled, which is how tiles are padded past a matrix edge.
__device__ __forceinline__ void CpAsync16(void* smem, const void* gmem, bool valid) {
  const unsigned dst = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  const int bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(gmem),
               "r"(bytes));
}
__device__ __forceinline__ void CpAsyncCommit() { asm volatile("cp.async.commit_group;\n" ::); }
// Waits until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void CpAsyncWait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ float BlockSum(float v, float* scratch) { return BlockReduce<false>(v, scratch); }
__device__ __forceinline__ float BlockMax(float v, float* scratch) { return BlockReduce<true>(v, scratch); }

#endif  // __CUDACC__

}  // namespace plume::kernels::cuda
