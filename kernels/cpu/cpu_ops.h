// The CPU backend's ops as free functions (private to kernels/ and its tests and benchmarks).
// CpuOps (cpu_ops.cc) validates sizes and then calls these; the CUDA tests and benchmarks call
// them directly as the reference. Every function here assumes valid sizes and non-aliasing
// buffers (checked by CpuOps, not here), runs on the calling thread's OpenMP team (the size set
// by omp_set_num_threads), and follows ops.h: forward ops overwrite, backward ops accumulate.
//
// Determinism: every function gives bit-identical results for the same inputs, whatever the
// number of threads. Work is split so each output element is written by one thread in a fixed
// order (rows, heads, column blocks, or fixed matmul tiles); the one cross-thread sum
// (GlobalNormCpu) goes through fixed-size chunks summed in order.
//
// Threads are OpenMP's. On a machine shared with other busy processes, run with
// OMP_WAIT_POLICY=passive: libgomp's default spin-waiting between parallel regions otherwise
// burns the CPU the ops need (a training test went from 20 s to 220 s at load 10 on 2 cores).
//
// Side effect: the matmul and attention functions set OpenBLAS to one thread (process-wide, on
// every call) and run their own tiles on the OpenMP team instead; see matmul.cc for why.
#pragma once

#include <cstddef>
#include <cstdint>

namespace plume::kernels::cpu {

// Below this many elements (or multiply-adds) a forward op runs on the calling thread alone: a
// decode step's ops are that small, and waking the OpenMP team (which sleeps between parallel
// regions under OMP_WAIT_POLICY=passive) costs more than the work, tens of microseconds per op.
// Results cannot change: every op already gives the same bits at any thread count.
inline constexpr long kParallelMinWork = 1 << 15;

// Elements per chunk for GlobalNormCpu's fixed reduction order.
inline constexpr size_t kNormChunkElems = size_t{1} << 15;

// out (B,T,C) = wte[tokens] + wpe[t]. tokens must lie in [0, rows of wte).
void EncoderForwardCpu(float* out, const int32_t* tokens, const float* wte, const float* wpe, int B,
                       int T, int C);
// dwte (Vp,C) += dout scattered by token; dwpe (T rows used) += sum over b of dout.
void EncoderBackwardCpu(float* dwte, float* dwpe, const float* dout, const int32_t* tokens, int B,
                        int T, int C);

inline constexpr float kLayerNormEps = 1e-5f;
// out (N,C), mean (N), rstd (N) from inp (N,C), weight (C), bias (C).
void LayerNormForwardCpu(float* out, float* mean, float* rstd, const float* inp,
                         const float* weight, const float* bias, int N, int C);
// dinp (N,C) += ..., dweight (C) += ..., dbias (C) += ...
void LayerNormBackwardCpu(float* dinp, float* dweight, float* dbias, const float* dout,
                          const float* inp, const float* weight, const float* mean,
                          const float* rstd, int N, int C);

// out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias (OC); bias may be null.
void MatmulForwardCpu(float* out, const float* inp, const float* weight, const float* bias, int N,
                      int C, int OC);
// dinp (N,C) += dout @ weight (dinp may be null); dweight (OC,C) += dout^T @ inp;
// dbias (OC) += colsum(dout) (dbias may be null).
void MatmulBackwardCpu(float* dinp, float* dweight, float* dbias, const float* dout,
                       const float* inp, const float* weight, int N, int C, int OC);

// Causal multi-head attention. qkv (B,T,3C), out (B,T,C), lse (B,NH,T). C % NH == 0.
void AttentionForwardCpu(float* out, float* lse, const float* qkv, int B, int T, int C, int NH);
// dqkv (B,T,3C) += gradient of <dout, out> through the attention; recomputes probabilities
// from qkv and lse.
void AttentionBackwardCpu(float* dqkv, const float* dout, const float* qkv, const float* out,
                          const float* lse, int B, int T, int C, int NH);

// GELU, tanh approximation. dinp += gelu'(inp) * dout.
void GeluForwardCpu(float* out, const float* inp, size_t n);
void GeluBackwardCpu(float* dinp, const float* inp, const float* dout, size_t n);

// out = a + b; da += dout; db += dout.
void ResidualForwardCpu(float* out, const float* a, const float* b, size_t n);
void ResidualBackwardCpu(float* da, float* db, const float* dout, size_t n);

// See ops.h. targets must lie in [0, V); 0 < V <= Vp.
void SoftmaxCrossEntropyCpu(float* logits, float* losses, float* probs_out, const int32_t* targets,
                            int N, int V, int Vp, float loss_scale, bool write_dlogits);
// probs (N,Vp) = softmax(logits[:, :V] / temperature), padding columns 0. temperature > 0.
void SoftmaxCpu(float* probs, const float* logits, int N, int V, int Vp, float temperature);

// Inference with a KV cache (ops.h; decode.cc, matmul_rows.cc). Each row's bits depend on that
// row's inputs only. Index arrays are in range (checked by CpuOps).
void EncoderForwardAtCpu(float* out, const int32_t* tokens, const int32_t* positions,
                         const float* wte, const float* wpe, int N, int C);
void KvCacheWriteCpu(float* k_cache, float* v_cache, const float* qkv, const int32_t* slots,
                     const int32_t* positions, int N, int C, int NH, int maxT);
void AttentionDecodeCpu(float* out, const float* qkv, const float* k_cache, const float* v_cache,
                        const int32_t* slots, const int32_t* lengths, int N, int C, int NH,
                        int maxT);
// AVX2 where the build has it (the kernels are built for x86-64-v3), else the portable code.
void MatmulForwardRowsCpu(float* out, const float* inp, const float* weight, const float* bias,
                          int N, int C, int OC);
// The same arithmetic one element at a time, without intrinsics: bit-identical to the above
// (lanes.h), the reference its test compares with.
void MatmulForwardRowsPortableCpu(float* out, const float* inp, const float* weight,
                                  const float* bias, int N, int C, int OC);

// One AdamW step with bias correction for step t = step (>= 1).
void AdamWCpu(float* params, const float* grads, float* m, float* v, size_t n, float lr,
              float beta1, float beta2, float eps, float weight_decay, int64_t step);
// sqrt(sum grads^2), accumulated in double over chunks of kNormChunkElems summed in order.
float GlobalNormCpu(const float* grads, size_t n);
// x *= factor.
void ScaleCpu(float* x, float factor, size_t n);

}  // namespace plume::kernels::cpu
