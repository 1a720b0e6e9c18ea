// The op set of the GPT runtime. Every op exists twice: CpuOps (kernels/cpu/, the reference and
// the spec) and CudaOps (kernels/cuda/). The model (gpt.h) is written once against this
// interface, so both backends run exactly the same graph.
//
// Conventions shared by every implementation:
// - All tensors are float32, row-major, in memory owned by the backend (Alloc). On the CPU
//   backend pointers are host pointers; on CUDA they are device pointers.
// - Shapes are given in comments as (B, T, C) etc. N = B * T rows where an op is row-wise.
// - Forward ops overwrite their outputs. Backward ops ACCUMULATE (+=) into every gradient they
//   write, both into input gradients and into parameter gradients; the caller zeroes grads.
// - Deterministic: no atomics in reductions, a fixed reduction order; the same inputs on the same
//   device give bit-identical outputs.
// - Ops return Status: a launch failure or a size the implementation cannot handle is an error
//   value, never an exit().
// - Thread safety: one Ops object is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "plume/kernels/error.h"

namespace plume::kernels {

enum class Backend { kCpu, kCuda };

// Memory owned by a backend. Move-only; freed on destruction.
class Buffer {
 public:
  virtual ~Buffer() = default;
  virtual void* data() = 0;
  virtual size_t bytes() const = 0;
  float* f32() { return static_cast<float*>(data()); }
  int32_t* i32() { return static_cast<int32_t*>(data()); }
};

struct AdamWParams {
  float lr = 3e-4f;
  float beta1 = 0.9f;
  float beta2 = 0.95f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  int64_t step = 1;  // 1-based step count t, for bias correction
};

class Ops {
 public:
  virtual ~Ops() = default;
  virtual Backend backend() const = 0;
  // Human-readable device name ("cpu (2 threads)", "NVIDIA H100 80GB HBM3").
  virtual std::string DeviceName() const = 0;
  // Total memory of the device in bytes (CUDA: global memory; CPU: physical RAM), for capacity
  // reports and placement; 0 when the backend cannot tell.
  virtual uint64_t MemoryBytes() const = 0;

  // ---- memory -------------------------------------------------------------------------------
  virtual Result<std::unique_ptr<Buffer>> Alloc(size_t bytes) = 0;  // zero-filled
  virtual Status CopyToDevice(void* dst, const void* host_src, size_t bytes) = 0;
  virtual Status CopyToHost(void* host_dst, const void* src, size_t bytes) = 0;
  virtual Status Fill(float* dst, float value, size_t n) = 0;
  // Waits until all queued work is done (no-op on CPU).
  virtual Status Synchronize() = 0;

  // ---- token + position embedding ----------------------------------------------------------
  // out (B,T,C) = wte[tokens[b,t]] + wpe[t]; tokens (B,T) int32 in [0, V); wte (Vp,C); wpe (maxT,C)
  virtual Status EncoderForward(float* out, const int32_t* tokens, const float* wte,
                                const float* wpe, int B, int T, int C) = 0;
  // dwte (Vp,C) += scatter of dout by token; dwpe (maxT,C) += sum over batch of dout.
  // The CUDA version must stay deterministic (no atomics): the caller passes the tokens also as a
  // host copy so the backend can bucket positions by token on the host if it wants to.
  virtual Status EncoderBackward(float* dwte, float* dwpe, const float* dout,
                                 const int32_t* tokens, const int32_t* tokens_host, int B, int T,
                                 int C) = 0;

  // ---- LayerNorm (eps 1e-5) ---------------------------------------------------------------
  // out (N,C), mean (N), rstd (N) from inp (N,C), weight (C), bias (C)
  virtual Status LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                                  const float* weight, const float* bias, int N, int C) = 0;
  virtual Status LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                                   const float* inp, const float* weight, const float* mean,
                                   const float* rstd, int N, int C) = 0;

  // ---- matmul with bias ---------------------------------------------------------------------
  // out (N,OC) = inp (N,C) @ weight(OC,C)^T + bias (OC); bias may be null.
  virtual Status MatmulForward(float* out, const float* inp, const float* weight,
                               const float* bias, int N, int C, int OC) = 0;
  // dinp (N,C) += dout @ weight; dweight (OC,C) += dout^T @ inp; dbias (OC) += colsum(dout).
  // dbias may be null (no bias); dinp may be null (input needs no gradient).
  virtual Status MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                                const float* inp, const float* weight, int N, int C, int OC) = 0;

  // ---- causal multi-head self-attention ---------------------------------------------------
  // qkv (B,T,3C) holds q|k|v, each (B,T,NH,HS) with HS = C/NH. out (B,T,C) is the attention
  // output before the projection. lse (B,NH,T) is the log-sum-exp of each softmax row (scaled
  // scores), saved for the backward pass; no (T,T) matrix needs to survive the forward.
  virtual Status AttentionForward(float* out, float* lse, const float* qkv, int B, int T, int C,
                                  int NH) = 0;
  // dqkv (B,T,3C) += gradient from dout (B,T,C); uses the forward's out and lse.
  virtual Status AttentionBackward(float* dqkv, const float* dout, const float* qkv,
                                   const float* out, const float* lse, int B, int T, int C,
                                   int NH) = 0;

  // ---- GELU (tanh approximation) ------------------------------------------------------------
  virtual Status GeluForward(float* out, const float* inp, size_t n) = 0;
  virtual Status GeluBackward(float* dinp, const float* inp, const float* dout, size_t n) = 0;

  // ---- residual -----------------------------------------------------------------------------
  virtual Status ResidualForward(float* out, const float* a, const float* b, size_t n) = 0;
  // da += dout; db += dout
  virtual Status ResidualBackward(float* da, float* db, const float* dout, size_t n) = 0;

  // ---- fused softmax + cross-entropy over the vocabulary -----------------------------------
  // logits (N,Vp), of which the first V columns are real (the rest is padding and ignored).
  // losses (N) = -log softmax(logits[i,:V])[targets[i]]. If write_dlogits, logits is
  // overwritten in place with d(loss_scale * sum losses)/dlogits (padding columns set to 0).
  // probs_out, if not null, receives softmax (N,Vp) for sampling (padding columns 0).
  virtual Status SoftmaxCrossEntropy(float* logits, float* losses, float* probs_out,
                                     const int32_t* targets, int N, int V, int Vp,
                                     float loss_scale, bool write_dlogits) = 0;
  // Plain row softmax with temperature, for generation: probs (N,Vp) from logits (N,Vp).
  virtual Status Softmax(float* probs, const float* logits, int N, int V, int Vp,
                         float temperature) = 0;

  // ---- inference with a KV cache ----------------------------------------------------------
  // Generation (gpt.h Prefill/Decode) keeps every sequence's keys and values in a cache, one
  // slot per sequence: k_cache and v_cache are (S, NH, maxT, HS) each (slot, head, position,
  // channel), so one head of one sequence is a contiguous (maxT, HS) block. A decode step feeds
  // N rows, row i being one new token of sequence slots[i] at position positions[i]. Every op
  // below computes row i from row i's inputs only, in a fixed order, so a sequence's bits never
  // depend on which other sequences share its batch, nor on N. Index arrays are int32 in backend
  // memory; the CPU backend checks their ranges (an error, not a write out of bounds).
  //
  // out (N,C) = wte[tokens[i]] + wpe[positions[i]]; tokens in [0, rows of wte), positions in
  // [0, rows of wpe) (the row counts are not passed: backends catch negative ids, the model
  // checks the upper bounds against its config, as for EncoderForward).
  virtual Status EncoderForwardAt(float* out, const int32_t* tokens, const int32_t* positions,
                                  const float* wte, const float* wpe, int N, int C) = 0;
  // Copies the k and v parts of qkv (N,3C) (row i: position positions[i] of slot slots[i]) into
  // the caches (S slots). slots in [0, S), positions in [0, maxT).
  virtual Status KvCacheWrite(float* k_cache, float* v_cache, const float* qkv,
                              const int32_t* slots, const int32_t* positions, int N, int C, int NH,
                              int S, int maxT) = 0;
  // One query row per sequence against its cached keys: out (N,C) row i = softmax(scale q_i .
  // k[0..lengths[i])) v[0..lengths[i]) per head, q_i from qkv row i (its k and v parts are not
  // read: KvCacheWrite has put them in the cache at position lengths[i] - 1). 1 <= lengths[i] <=
  // maxT. The same numbers as row lengths[i]-1 of AttentionForward up to float rounding.
  virtual Status AttentionDecode(float* out, const float* qkv, const float* k_cache,
                                 const float* v_cache, const int32_t* slots, const int32_t* lengths,
                                 int N, int C, int NH, int S, int maxT) = 0;
  // MatmulForward for decode rows: out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (bias may be
  // null), where each output row's bits depend on its own input row only, never on N or the
  // other rows (MatmulForward's tiles give no such promise on the CPU: OpenBLAS picks kernels by
  // shape). Meant for small N, where reading the weight once for all rows is what matters.
  virtual Status MatmulForwardRows(float* out, const float* inp, const float* weight,
                                   const float* bias, int N, int C, int OC) = 0;

  // ---- optimizer ----------------------------------------------------------------------------
  // AdamW on n parameters; m and v are the moment buffers.
  virtual Status AdamW(float* params, const float* grads, float* m, float* v, size_t n,
                       const AdamWParams& p) = 0;
  // Global L2 norm of grads (n floats), reduced in a fixed order; returned to the host.
  virtual Result<float> GlobalNorm(const float* grads, size_t n) = 0;
  // x *= factor (gradient clipping, averaging).
  virtual Status Scale(float* x, float factor, size_t n) = 0;
};

// The CPU backend; always available. threads <= 0 means the OpenMP default.
std::unique_ptr<Ops> MakeCpuOps(int threads = 0);

// Number of CUDA devices usable by this process; 0 when built without CUDA or no device/driver.
int CudaDeviceCount();
// The CUDA backend on one device; an error when built without CUDA or the device is unusable.
Result<std::unique_ptr<Ops>> MakeCudaOps(int device);
bool BuiltWithCuda();

}  // namespace plume::kernels
