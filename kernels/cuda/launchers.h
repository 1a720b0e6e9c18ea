// The launchers of the CUDA backend, one group per op file (encoder.cu, layernorm.cu, ...).
// CudaOps (cuda_ops.cc) forwards each Ops method here after selecting its device. Every launcher
// checks its sizes, picks the geometry, launches on ctx.stream, checks the launch, and returns a
// Status; none waits for the kernel to finish. Pointers are device pointers unless named _host.
// Semantics (overwrite vs accumulate, shapes) are those of plume/kernels/ops.h.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "cuda_kernel_choice.h"
#include "plume/kernels/error.h"
#include "plume/kernels/ops.h"

namespace plume::kernels::cuda {

// Device scratch memory reused by the ops that need temporaries (partial sums, bucket lists).
// One per CudaOps; contents are undefined between ops. Work is stream-ordered, so a later op may
// reuse the memory while an earlier kernel is still queued before it on the same stream.
class DeviceScratch {
 public:
  explicit DeviceScratch(cudaStream_t stream) : stream_(stream) {}
  ~DeviceScratch();  // the owner drains the stream first
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  // At least `bytes` of device memory, 256-byte aligned. Growing waits for the stream first,
  // because queued kernels may still read the old block.
  Result<void*> Get(size_t bytes);

 private:
  cudaStream_t stream_;
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// Bits a kernel sets in LaunchContext::error_flags when it meets input it must not act on (it
// skips that input instead of reading or writing out of bounds); the backend turns them into an
// error at its next synchronisation.
constexpr int kBadTokenFlag = 1;   // encoder: a token id below 0
constexpr int kBadTargetFlag = 2;  // softmax cross-entropy: a target outside [0, V)
constexpr int kBadIndexFlag = 4;   // KV-cache ops: a slot, position or length out of range

struct LaunchContext {
  cudaStream_t stream;
  DeviceScratch* scratch;
  int* error_flags;  // one device int, 0 while no kernel has seen bad input
  CudaKernelChoice kernels;  // which variant runs where an op has several
};

// norm.cu (with Scale): dst[0..n) = value
Status LaunchFill(const LaunchContext& ctx, float* dst, float value, size_t n);

// encoder.cu
Status LaunchEncoderForward(const LaunchContext& ctx, float* out, const int32_t* tokens,
                            const float* wte, const float* wpe, int B, int T, int C);
Status LaunchEncoderBackward(const LaunchContext& ctx, float* dwte, float* dwpe, const float* dout,
                             const int32_t* tokens_host, int B, int T, int C);

// layernorm.cu
Status LaunchLayerNormForward(const LaunchContext& ctx, float* out, float* mean, float* rstd,
                              const float* inp, const float* weight, const float* bias, int N,
                              int C);
Status LaunchLayerNormBackward(const LaunchContext& ctx, float* dinp, float* dweight, float* dbias,
                               const float* dout, const float* inp, const float* weight,
                               const float* mean, const float* rstd, int N, int C);

// matmul.cu
Status LaunchMatmulForward(const LaunchContext& ctx, float* out, const float* inp,
                           const float* weight, const float* bias, int N, int C, int OC);
Status LaunchMatmulBackward(const LaunchContext& ctx, float* dinp, float* dweight, float* dbias,
                            const float* dout, const float* inp, const float* weight, int N, int C,
                            int OC);

// attention.cu
Status LaunchAttentionForward(const LaunchContext& ctx, float* out, float* lse, const float* qkv,
                              int B, int T, int C, int NH);
Status LaunchAttentionBackward(const LaunchContext& ctx, float* dqkv, const float* dout,
                               const float* qkv, const float* out, const float* lse, int B, int T,
                               int C, int NH);

// gelu.cu
Status LaunchGeluForward(const LaunchContext& ctx, float* out, const float* inp, size_t n);
Status LaunchGeluBackward(const LaunchContext& ctx, float* dinp, const float* inp,
                          const float* dout, size_t n);

// residual.cu
Status LaunchResidualForward(const LaunchContext& ctx, float* out, const float* a, const float* b,
                             size_t n);
Status LaunchResidualBackward(const LaunchContext& ctx, float* da, float* db, const float* dout,
                              size_t n);

// softmax_xent.cu
Status LaunchSoftmaxCrossEntropy(const LaunchContext& ctx, float* logits, float* losses,
                                 float* probs_out, const int32_t* targets, int N, int V, int Vp,
                                 float loss_scale, bool write_dlogits);
Status LaunchSoftmax(const LaunchContext& ctx, float* probs, const float* logits, int N, int V,
                     int Vp, float temperature);

// decode.cu (the KV-cache ops). MatmulForwardRows is LaunchMatmulForward (cuda_ops.cc says why).
Status LaunchEncoderForwardAt(const LaunchContext& ctx, float* out, const int32_t* tokens,
                              const int32_t* positions, const float* wte, const float* wpe, int N,
                              int C);
Status LaunchKvCacheWrite(const LaunchContext& ctx, float* k_cache, float* v_cache,
                          const float* qkv, const int32_t* slots, const int32_t* positions, int N,
                          int C, int NH, int S, int maxT);
Status LaunchAttentionDecode(const LaunchContext& ctx, float* out, const float* qkv,
                             const float* k_cache, const float* v_cache, const int32_t* slots,
                             const int32_t* lengths, int N, int C, int NH, int S, int maxT);

// adamw.cu
Status LaunchAdamW(const LaunchContext& ctx, float* params, const float* grads, float* m, float* v,
                   size_t n, const AdamWParams& p);

// norm.cu: the sum of squares lands in *sumsq_device (one float of device memory).
Status LaunchSumOfSquares(const LaunchContext& ctx, float* sumsq_device, const float* x, size_t n);
Status LaunchScale(const LaunchContext& ctx, float* x, float factor, size_t n);

// matmul_pipelined.cu: the fast path of matmul.cu's product C (M,Ng) (+)= A (M,K) B (K,Ng)
// (A read as [k][m] when kTransA, B as [n][k] when kTransB). Returns false, launching nothing,
// when the operands do not meet its alignment needs (the caller then uses the simple kernel).
// Called only when ctx.kernels.matmul is kPipelinedTf32.
template <bool kTransA, bool kTransB>
Result<bool> TryPipelinedGemm(const LaunchContext& ctx, float* c_out, const float* a,
                              const float* b, const float* bias, int M, int Ng, int K, int lda,
                              int ldb, int ldc, bool accumulate);

// matmul_bf16.cu: the same product with both operands rounded to BF16 (fp32 accumulate, fp32
// C), any sizes and alignments; used when ctx.kernels.matmul is kBf16.
template <bool kTransA, bool kTransB>
Status Bf16Gemm(const LaunchContext& ctx, float* c_out, const float* a, const float* b,
                const float* bias, int M, int Ng, int K, int lda, int ldb, int ldc,
                bool accumulate);

// attention_bf16.cu: LaunchAttentionForward on BF16 tensor cores (ctx.kernels.attention is
// kBf16); shapes already checked by the caller (HS <= 128).
Status LaunchAttentionForwardBf16(const LaunchContext& ctx, float* out, float* lse,
                                  const float* qkv, int B, int T, int C, int NH);

// The stream a CUDA backend (MakeCudaOps) queues its work on, so that a caller's own kernels or
// library calls (a benchmark's cuBLAS baseline) order with it; null for any other Ops.
cudaStream_t StreamOf(Ops& ops);

}  // namespace plume::kernels::cuda
