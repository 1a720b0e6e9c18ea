// Token + position embedding, forward and backward.
//
//   forward:  out[b,t,:] = wte[tokens[b,t], :] + wpe[t, :]
//   backward: dwte[v,:] += sum over (b,t) with tokens[b,t] == v of dout[b,t,:]
//             dwpe[t,:] += sum over b of dout[b,t,:]
//
// The dwte scatter is where a naive kernel would use atomics. Instead the host buckets the
// positions by token (tokens_host), the buckets go to the device as three arrays, and one thread
// per (token, channel) walks its bucket in increasing position order: deterministic, and the same
// order the CPU reference accumulates in.
#include <cstring>
#include <string>
#include <vector>

#include "common.cuh"
#include "launchers.h"

namespace plume::kernels::cuda {
namespace {

constexpr int kBlock = 256;

// out (B,T,C), tokens (B,T), wte (Vp,C), wpe (maxT,C); grid-stride over B*T*C.
__global__ void EncoderForwardKernel(float* out, const int32_t* tokens, const float* wte,
                                     const float* wpe, int T, int C, size_t total,
                                     int* error_flags) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < total;
       i += size_t{gridDim.x} * blockDim.x) {
    size_t bt = i / C;
    int c = static_cast<int>(i % C);
    int t = static_cast<int>(bt % T);
    int token = tokens[bt];
    if (token < 0) {  // the upper bound (the padded vocabulary) is checked by Gpt on the host
      if (c == 0) atomicOr(error_flags, kBadTokenFlag);
      out[i] = 0.0f;
      continue;
    }
    out[i] = wte[static_cast<size_t>(token) * C + c] + wpe[static_cast<size_t>(t) * C + c];
  }
}

// dwpe (maxT,C) += sum_b dout (B,T,C); one thread per (t, c), batches in order.
__global__ void EncoderBackwardWpeKernel(float* dwpe, const float* dout, int B, int T, int C) {
  size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i >= static_cast<size_t>(T) * C) return;
  float acc = dwpe[i];
  for (int b = 0; b < B; ++b) acc += dout[static_cast<size_t>(b) * T * C + i];
  dwpe[i] = acc;
}

// Bucket u holds the rows positions[offsets[u] .. offsets[u+1]) of token uniq[u], ascending.
// grid (U, ceil(C / blockDim)); one thread per channel.
__global__ void EncoderBackwardWteKernel(float* dwte, const float* dout, const int32_t* uniq,
                                         const int32_t* offsets, const int32_t* positions, int C) {
  int u = blockIdx.x;
  int c = blockIdx.y * blockDim.x + threadIdx.x;
  if (c >= C) return;
  size_t row = static_cast<size_t>(uniq[u]) * C + c;
  float acc = dwte[row];
  for (int k = offsets[u]; k < offsets[u + 1]; ++k) {
    acc += dout[static_cast<size_t>(positions[k]) * C + c];
  }
  dwte[row] = acc;
}

}  // namespace

Status LaunchEncoderForward(const LaunchContext& ctx, float* out, const int32_t* tokens,
                            const float* wte, const float* wpe, int B, int T, int C) {
  if (B <= 0 || T <= 0 || C <= 0) {
    return Fail("EncoderForward: B, T, C must be positive (got " + std::to_string(B) + ", " +
                std::to_string(T) + ", " + std::to_string(C) + ")");
  }
  size_t total = static_cast<size_t>(B) * T * C;
  EncoderForwardKernel<<<GridFor(total, kBlock), kBlock, 0, ctx.stream>>>(
      out, tokens, wte, wpe, T, C, total, ctx.error_flags);
  CUDA_CHECK_LAUNCH("EncoderForwardKernel");
  return {};
}

Status LaunchEncoderBackward(const LaunchContext& ctx, float* dwte, float* dwpe, const float* dout,
                             const int32_t* tokens_host, int B, int T, int C) {
  if (B <= 0 || T <= 0 || C <= 0) {
    return Fail("EncoderBackward: B, T, C must be positive");
  }
  if (tokens_host == nullptr) {
    return Fail("EncoderBackward: the CUDA backend needs the host copy of the tokens "
                "(tokens_host) to bucket positions without atomics");
  }
  const int N = B * T;
  if (static_cast<int64_t>(B) * T > INT32_MAX / 2) return Fail("EncoderBackward: B*T too large");

  // Counting sort of positions by token: stable, so each bucket lists positions in order.
  int32_t max_token = -1;
  for (int n = 0; n < N; ++n) {
    if (tokens_host[n] < 0) {
      return Fail("EncoderBackward: token " + std::to_string(tokens_host[n]) + " at position " +
                  std::to_string(n) + " is negative; tokens must lie in [0, vocab)");
    }
    if (tokens_host[n] > max_token) max_token = tokens_host[n];
  }
  std::vector<int32_t> count(static_cast<size_t>(max_token) + 1, 0);
  for (int n = 0; n < N; ++n) ++count[tokens_host[n]];
  // Layout of the upload: uniq (U) | offsets (U+1) | positions (N).
  std::vector<int32_t> uniq;
  for (int32_t v = 0; v <= max_token; ++v) {
    if (count[v] > 0) uniq.push_back(v);
  }
  const int U = static_cast<int>(uniq.size());
  std::vector<int32_t> host(static_cast<size_t>(U) + (U + 1) + N);
  int32_t* offsets = host.data() + U;
  int32_t* positions = offsets + U + 1;
  std::memcpy(host.data(), uniq.data(), sizeof(int32_t) * U);
  std::vector<int32_t> cursor(count.size(), 0);
  offsets[0] = 0;
  for (int u = 0; u < U; ++u) {
    cursor[uniq[u]] = offsets[u];
    offsets[u + 1] = offsets[u] + count[uniq[u]];
  }
  for (int n = 0; n < N; ++n) positions[cursor[tokens_host[n]]++] = n;

  auto scratch = ctx.scratch->Get(host.size() * sizeof(int32_t));
  if (!scratch) return tl::unexpected(scratch.error());
  int32_t* dev = static_cast<int32_t*>(*scratch);
  // Pageable source: cudaMemcpyAsync returns once the bytes are staged, so `host` may die after.
  CUDA_CHECK(cudaMemcpyAsync(dev, host.data(), host.size() * sizeof(int32_t),
                             cudaMemcpyHostToDevice, ctx.stream));

  size_t tc = static_cast<size_t>(T) * C;
  EncoderBackwardWpeKernel<<<GridFor(tc, kBlock, 0x7fffffffu), kBlock, 0, ctx.stream>>>(
      dwpe, dout, B, T, C);
  CUDA_CHECK_LAUNCH("EncoderBackwardWpeKernel");

  unsigned int chunks = CeilDiv(C, kBlock);
  if (chunks > 65535u) return Fail("EncoderBackward: C too large");
  dim3 grid(static_cast<unsigned int>(U), chunks);
  EncoderBackwardWteKernel<<<grid, kBlock, 0, ctx.stream>>>(dwte, dout, dev, dev + U,
                                                            dev + U + U + 1, C);
  CUDA_CHECK_LAUNCH("EncoderBackwardWteKernel");
  return {};
}

}  // namespace plume::kernels::cuda
