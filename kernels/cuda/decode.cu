// The KV-cache ops of generation on CUDA (ops.h "inference with a KV cache"; the CPU reference
// is kernels/cpu/decode.cc): the embedding of one new token per sequence at its own position,
// the copy of its key and value into the sequence's cache slot, and the attention of its query
// over the cached positions. Caches are (S, NH, maxT, HS).
//
// Status: compiled, not yet run on a GPU (the machine these were written on has none); the CUDA
// decode tests (cuda_decode_test.cc) compare each with the CPU reference and check that a row's
// bits do not depend on its batch mates, and skip without a device.
//
// Determinism and batch independence: the attention gives each (row, head) one block of
// kAttnBlock threads; thread j takes positions j, j + kAttnBlock, ... in increasing order, the
// max and the sum go through the fixed-order BlockReduce of common.cuh, and each output channel
// is summed over positions in increasing order by one thread. Nothing depends on N or on other
// rows. Index arrays live on the device, so out-of-range indices are skipped and reported
// through the error flags (kBadIndexFlag), like the encoder's negative tokens.
#include <string>

#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

constexpr int kBlock = 256;
constexpr int kAttnBlock = 128;

__device__ __forceinline__ size_t CacheRow(int slot, int head, int pos, int NH, int maxT, int HS) {
  return ((static_cast<size_t>(slot) * NH + head) * maxT + pos) * HS;
}

// out (N,C); grid-stride over N*C.
__global__ void EncoderForwardAtKernel(float* out, const int32_t* tokens, const int32_t* positions,
                                       const float* wte, const float* wpe, int C, size_t total,
                                       int* error_flags) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < total;
       i += size_t{gridDim.x} * blockDim.x) {
    const size_t row = i / C;
    const int c = static_cast<int>(i % C);
    const int token = tokens[row], pos = positions[row];
    if (token < 0 || pos < 0) {  // upper bounds are checked by Gpt on the host
      if (c == 0) atomicOr(error_flags, token < 0 ? kBadTokenFlag : kBadIndexFlag);
      out[i] = 0.0f;
      continue;
    }
    out[i] = wte[static_cast<size_t>(token) * C + c] + wpe[static_cast<size_t>(pos) * C + c];
  }
}

// One thread per (row, channel of C): copies k and v of that channel.
__global__ void KvCacheWriteKernel(float* k_cache, float* v_cache, const float* qkv,
                                   const int32_t* slots, const int32_t* positions, int C, int NH,
                                   int S, int maxT, size_t total, int* error_flags) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < total;
       i += size_t{gridDim.x} * blockDim.x) {
    const size_t row = i / C;
    const int c = static_cast<int>(i % C);
    const int slot = slots[row], pos = positions[row];
    if (slot < 0 || slot >= S || pos < 0 || pos >= maxT) {
      if (c == 0) atomicOr(error_flags, kBadIndexFlag);
      continue;
    }
    const int HS = C / NH;
    const size_t at = CacheRow(slot, c / HS, pos, NH, maxT, HS) + c % HS;
    k_cache[at] = qkv[row * 3 * C + C + c];
    v_cache[at] = qkv[row * 3 * C + 2 * C + c];
  }
}

// grid (NH, N), block kAttnBlock, dynamic shared memory HS floats (the query). scores: scratch
// of N * NH * maxT floats, this block's part holding its probabilities.
__global__ void __launch_bounds__(kAttnBlock)
    AttentionDecodeKernel(float* out, const float* qkv, const float* k_cache, const float* v_cache,
                          const int32_t* slots, const int32_t* lengths, int C, int NH, int S,
                          int maxT, float scale, float* scores, int* error_flags) {
  extern __shared__ float q[];
  __shared__ float red[32];
  const int h = blockIdx.x, i = blockIdx.y, HS = C / NH;
  const int slot = slots[i], len = lengths[i];
  float* o = out + static_cast<size_t>(i) * C + static_cast<size_t>(h) * HS;
  if (slot < 0 || slot >= S || len < 1 || len > maxT) {
    if (threadIdx.x == 0 && h == 0) atomicOr(error_flags, kBadIndexFlag);
    for (int d = threadIdx.x; d < HS; d += blockDim.x) o[d] = 0.0f;
    return;
  }
  for (int d = threadIdx.x; d < HS; d += blockDim.x) {
    q[d] = qkv[static_cast<size_t>(i) * 3 * C + static_cast<size_t>(h) * HS + d];
  }
  __syncthreads();
  const float* k = k_cache + CacheRow(slot, h, 0, NH, maxT, HS);
  const float* v = v_cache + CacheRow(slot, h, 0, NH, maxT, HS);
  float* s = scores + (static_cast<size_t>(i) * NH + h) * maxT;
  float local_max = -INFINITY;
  for (int t = threadIdx.x; t < len; t += blockDim.x) {
    const float* kt = k + static_cast<size_t>(t) * HS;
    float dot = 0.0f;
    for (int d = 0; d < HS; ++d) dot = fmaf(q[d], kt[d], dot);
    s[t] = scale * dot;
    local_max = fmaxf(local_max, s[t]);
  }
  const float mx = BlockMax(local_max, red);
  float local_sum = 0.0f;
  for (int t = threadIdx.x; t < len; t += blockDim.x) {
    const float e = expf(s[t] - mx);
    s[t] = e;
    local_sum += e;
  }
  const float sum = BlockSum(local_sum, red);
  __syncthreads();  // every thread's probabilities are written before any is read
  const float inv = 1.0f / sum;
  for (int d = threadIdx.x; d < HS; d += blockDim.x) {
    float acc = 0.0f;
    for (int t = 0; t < len; ++t) acc = fmaf(s[t], v[static_cast<size_t>(t) * HS + d], acc);
    o[d] = acc * inv;
  }
}

Status Positive(const char* op, int N, int C) {
  if (N > 0 && C > 0) return {};
  return Fail(std::string(op) + ": N and C must be positive (got " + std::to_string(N) + ", " +
              std::to_string(C) + ")");
}

Status CacheShape(const char* op, int C, int NH, int S, int maxT) {
  if (NH > 0 && C % NH == 0 && S > 0 && maxT > 0) return {};
  return Fail(std::string(op) + ": need NH dividing C and positive S, maxT (got C=" +
              std::to_string(C) + ", NH=" + std::to_string(NH) + ", S=" + std::to_string(S) +
              ", maxT=" + std::to_string(maxT) + ")");
}

}  // namespace

Status LaunchEncoderForwardAt(const LaunchContext& ctx, float* out, const int32_t* tokens,
                              const int32_t* positions, const float* wte, const float* wpe, int N,
                              int C) {
  if (auto st = Positive("EncoderForwardAt", N, C); !st) return st;
  const size_t total = static_cast<size_t>(N) * C;
  EncoderForwardAtKernel<<<GridFor(total, kBlock), kBlock, 0, ctx.stream>>>(
      out, tokens, positions, wte, wpe, C, total, ctx.error_flags);
  CUDA_CHECK_LAUNCH("EncoderForwardAtKernel");
  return {};
}

Status LaunchKvCacheWrite(const LaunchContext& ctx, float* k_cache, float* v_cache,
                          const float* qkv, const int32_t* slots, const int32_t* positions, int N,
                          int C, int NH, int S, int maxT) {
  if (auto st = Positive("KvCacheWrite", N, C); !st) return st;
  if (auto st = CacheShape("KvCacheWrite", C, NH, S, maxT); !st) return st;
  const size_t total = static_cast<size_t>(N) * C;
  KvCacheWriteKernel<<<GridFor(total, kBlock), kBlock, 0, ctx.stream>>>(
      k_cache, v_cache, qkv, slots, positions, C, NH, S, maxT, total, ctx.error_flags);
  CUDA_CHECK_LAUNCH("KvCacheWriteKernel");
  return {};
}

Status LaunchAttentionDecode(const LaunchContext& ctx, float* out, const float* qkv,
                             const float* k_cache, const float* v_cache, const int32_t* slots,
                             const int32_t* lengths, int N, int C, int NH, int S, int maxT) {
  if (auto st = Positive("AttentionDecode", N, C); !st) return st;
  if (auto st = CacheShape("AttentionDecode", C, NH, S, maxT); !st) return st;
  if (N > 65535) return Fail("AttentionDecode: more than 65535 rows in one step");
  const int HS = C / NH;
  if (static_cast<size_t>(HS) * sizeof(float) > 48 * 1024) {
    return Fail("AttentionDecode: head size " + std::to_string(HS) + " too large");
  }
  auto scratch = ctx.scratch->Get(static_cast<size_t>(N) * NH * maxT * sizeof(float));
  if (!scratch) return tl::unexpected(scratch.error());
  const float scale = 1.0f / sqrtf(static_cast<float>(HS));
  AttentionDecodeKernel<<<dim3(NH, N), kAttnBlock, HS * sizeof(float), ctx.stream>>>(
      out, qkv, k_cache, v_cache, slots, lengths, C, NH, S, maxT, scale,
      static_cast<float*>(*scratch), ctx.error_flags);
  CUDA_CHECK_LAUNCH("AttentionDecodeKernel");
  return {};
}

}  // namespace plume::kernels::cuda
