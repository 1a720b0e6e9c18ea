// DelegatingOps: an Ops that forwards every call to another Ops. A backend variant overrides
// only the ops it changes (the self-test's emulated devices, the benchmark's cuBLAS matmuls).
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "plume/kernels/ops.h"

namespace plume::kernels {

class DelegatingOps : public Ops {
 public:
  explicit DelegatingOps(std::unique_ptr<Ops> inner) : inner_(std::move(inner)) {}

  Backend backend() const override { return inner_->backend(); }
  std::string DeviceName() const override { return inner_->DeviceName(); }
  uint64_t MemoryBytes() const override { return inner_->MemoryBytes(); }
  Result<std::unique_ptr<Buffer>> Alloc(size_t bytes) override { return inner_->Alloc(bytes); }
  Status CopyToDevice(void* dst, const void* src, size_t bytes) override {
    return inner_->CopyToDevice(dst, src, bytes);
  }
  Status CopyToHost(void* dst, const void* src, size_t bytes) override {
    return inner_->CopyToHost(dst, src, bytes);
  }
  Status Fill(float* dst, float value, size_t n) override { return inner_->Fill(dst, value, n); }
  Status Synchronize() override { return inner_->Synchronize(); }
  Status EncoderForward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                        int B, int T, int C) override {
    return inner_->EncoderForward(out, tokens, wte, wpe, B, T, C);
  }
  Status EncoderBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                         const int32_t* tokens_host, int B, int T, int C) override {
    return inner_->EncoderBackward(dwte, dwpe, dout, tokens, tokens_host, B, T, C);
  }
  Status LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                          const float* weight, const float* bias, int N, int C) override {
    return inner_->LayerNormForward(out, mean, rstd, inp, weight, bias, N, C);
  }
  Status LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                           const float* inp, const float* weight, const float* mean,
                           const float* rstd, int N, int C) override {
    return inner_->LayerNormBackward(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
  }
  Status MatmulForward(float* out, const float* inp, const float* weight, const float* bias,
                       int N, int C, int OC) override {
    return inner_->MatmulForward(out, inp, weight, bias, N, C, OC);
  }
  Status MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, int N, int C, int OC) override {
    return inner_->MatmulBackward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
  }
  Status AttentionForward(float* out, float* lse, const float* qkv, int B, int T, int C,
                          int NH) override {
    return inner_->AttentionForward(out, lse, qkv, B, T, C, NH);
  }
  Status AttentionBackward(float* dqkv, const float* dout, const float* qkv, const float* out,
                           const float* lse, int B, int T, int C, int NH) override {
    return inner_->AttentionBackward(dqkv, dout, qkv, out, lse, B, T, C, NH);
  }
  Status GeluForward(float* out, const float* inp, size_t n) override {
    return inner_->GeluForward(out, inp, n);
  }
  Status GeluBackward(float* dinp, const float* inp, const float* dout, size_t n) override {
    return inner_->GeluBackward(dinp, inp, dout, n);
  }
  Status ResidualForward(float* out, const float* a, const float* b, size_t n) override {
    return inner_->ResidualForward(out, a, b, n);
  }
  Status ResidualBackward(float* da, float* db, const float* dout, size_t n) override {
    return inner_->ResidualBackward(da, db, dout, n);
  }
  Status SoftmaxCrossEntropy(float* logits, float* losses, float* probs_out,
                             const int32_t* targets, int N, int V, int Vp, float loss_scale,
                             bool write_dlogits) override {
    return inner_->SoftmaxCrossEntropy(logits, losses, probs_out, targets, N, V, Vp, loss_scale,
                                       write_dlogits);
  }
  Status Softmax(float* probs, const float* logits, int N, int V, int Vp,
                 float temperature) override {
    return inner_->Softmax(probs, logits, N, V, Vp, temperature);
  }
  Status EncoderForwardAt(float* out, const int32_t* tokens, const int32_t* positions,
                          const float* wte, const float* wpe, int N, int C) override {
    return inner_->EncoderForwardAt(out, tokens, positions, wte, wpe, N, C);
  }
  Status KvCacheWrite(float* k_cache, float* v_cache, const float* qkv, const int32_t* slots,
                      const int32_t* positions, int N, int C, int NH, int S, int maxT) override {
    return inner_->KvCacheWrite(k_cache, v_cache, qkv, slots, positions, N, C, NH, S, maxT);
  }
  Status AttentionDecode(float* out, const float* qkv, const float* k_cache, const float* v_cache,
                         const int32_t* slots, const int32_t* lengths, int N, int C, int NH, int S,
                         int maxT) override {
    return inner_->AttentionDecode(out, qkv, k_cache, v_cache, slots, lengths, N, C, NH, S, maxT);
  }
  Status MatmulForwardRows(float* out, const float* inp, const float* weight, const float* bias,
                           int N, int C, int OC) override {
    return inner_->MatmulForwardRows(out, inp, weight, bias, N, C, OC);
  }
  Status AdamW(float* params, const float* grads, float* m, float* v, size_t n,
               const AdamWParams& p) override {
    return inner_->AdamW(params, grads, m, v, n, p);
  }
  Result<float> GlobalNorm(const float* grads, size_t n) override {
    return inner_->GlobalNorm(grads, n);
  }
  Status Scale(float* x, float factor, size_t n) override { return inner_->Scale(x, factor, n); }

 protected:
  Ops& inner() { return *inner_; }

 private:
  std::unique_ptr<Ops> inner_;
};

}  // namespace plume::kernels
