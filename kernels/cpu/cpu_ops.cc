// CpuOps: the CPU backend of ops.h. It owns host memory, validates every call's sizes and
// pointers (bad input is an error value, never a crash), sets the thread count, and forwards to
// the free functions of cpu_ops.h, one file per op.
#include "cpu_ops.h"

#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace {

constexpr size_t kAlignBytes = 64;  // one cache line; also enough for AVX-512 loads

class CpuBuffer final : public Buffer {
 public:
  CpuBuffer(void* data, size_t bytes) : data_(data), bytes_(bytes) {}
  ~CpuBuffer() override { std::free(data_); }
  CpuBuffer(const CpuBuffer&) = delete;
  CpuBuffer& operator=(const CpuBuffer&) = delete;
  void* data() override { return data_; }
  size_t bytes() const override { return bytes_; }

 private:
  void* data_;
  size_t bytes_;
};

// Size and pointer checks. Each returns an error naming the op and the argument.
Status Positive(const char* op, const char* name, long value) {
  if (value > 0) return {};
  return Fail(std::string(op) + ": " + name + " must be positive, got " + std::to_string(value));
}

Status NotNull(const char* op, const char* name, const void* p) {
  if (p != nullptr) return {};
  return Fail(std::string(op) + ": " + name + " is null; pass a buffer from Alloc()");
}

// Runs the checks in order and stops at the first failure.
template <class... Checks>
Status All(Checks&&... checks) {
  Status result;
  ((result.has_value() ? (result = checks, 0) : 0), ...);
  return result;
}

Status HeadsDivide(const char* op, int C, int NH) {
  if (NH > 0 && C > 0 && C % NH == 0) return {};
  return Fail(std::string(op) + ": channels C=" + std::to_string(C) +
              " must be a positive multiple of the head count NH=" + std::to_string(NH));
}

Status TokensInRange(const char* op, const char* name, const int32_t* tokens, long n, long limit) {
  for (long i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= limit) {
      return Fail(std::string(op) + ": " + name + "[" + std::to_string(i) +
                  "] = " + std::to_string(tokens[i]) + " is outside [0, " + std::to_string(limit) +
                  "); check the dataset's vocabulary against the model config");
    }
  }
  return {};
}

// The index arrays of the KV-cache ops (slots, positions): a bad one would write outside the
// cache, so it is an error here.
Status IndicesInRange(const char* op, const char* name, const int32_t* idx, long n, long limit) {
  for (long i = 0; i < n; ++i) {
    if (idx[i] < 0 || idx[i] >= limit) {
      return Fail(std::string(op) + ": " + name + "[" + std::to_string(i) + "] = " +
                  std::to_string(idx[i]) + " is outside [0, " + std::to_string(limit) + ")");
    }
  }
  return {};
}

class CpuOps final : public Ops {
 public:
  // threads <= 0 means the OpenMP default as it was when the first CpuOps was made. It is
  // resolved to a number here because an earlier CpuOps with an explicit count changes the
  // calling thread's OpenMP setting.
  explicit CpuOps(int threads) : threads_(threads > 0 ? threads : DefaultThreads()) {}

  Backend backend() const override { return Backend::kCpu; }
  std::string DeviceName() const override {
    return "cpu (" + std::to_string(threads_) + " threads)";
  }
  uint64_t MemoryBytes() const override {
    // The CPU backend's "device memory" is the machine's physical RAM.
    const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    return pages > 0 && page > 0 ? uint64_t(pages) * uint64_t(page) : 0;
  }

  Result<std::unique_ptr<Buffer>> Alloc(size_t bytes) override {
    // aligned_alloc needs a multiple of the alignment; a zero request still gets a real block
    // so data() is never null.
    const size_t rounded = (bytes / kAlignBytes + 1) * kAlignBytes;
    if (rounded < bytes) return Fail("Alloc: size " + std::to_string(bytes) + " overflows");
    void* p = std::aligned_alloc(kAlignBytes, rounded);
    if (p == nullptr) {
      return Fail("Alloc: out of host memory allocating " + std::to_string(bytes) +
                  " bytes; use a smaller batch or model");
    }
    std::memset(p, 0, rounded);
    return std::unique_ptr<Buffer>(std::make_unique<CpuBuffer>(p, bytes));
  }
  Status CopyToDevice(void* dst, const void* host_src, size_t bytes) override {
    if (auto s = All(NotNull("CopyToDevice", "dst", dst), NotNull("CopyToDevice", "src", host_src));
        !s && bytes > 0)
      return s;
    if (bytes > 0) std::memcpy(dst, host_src, bytes);
    return {};
  }
  Status CopyToHost(void* host_dst, const void* src, size_t bytes) override {
    if (auto s = All(NotNull("CopyToHost", "dst", host_dst), NotNull("CopyToHost", "src", src));
        !s && bytes > 0)
      return s;
    if (bytes > 0) std::memcpy(host_dst, src, bytes);
    return {};
  }
  Status Fill(float* dst, float value, size_t n) override {
    if (n == 0) return {};
    if (auto s = NotNull("Fill", "dst", dst); !s) return s;
    UseThreads();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) dst[i] = value;
    return {};
  }
  Status Synchronize() override { return {}; }

  Status EncoderForward(float* out, const int32_t* tokens, const float* wte, const float* wpe,
                        int B, int T, int C) override {
    constexpr const char* op = "EncoderForward";
    if (auto s = All(Positive(op, "B", B), Positive(op, "T", T), Positive(op, "C", C),
                     NotNull(op, "out", out), NotNull(op, "tokens", tokens),
                     NotNull(op, "wte", wte), NotNull(op, "wpe", wpe));
        !s)
      return s;
    // The vocabulary size is not passed, so only negative tokens can be caught here; the model
    // checks the upper bound against its config.
    if (auto s = TokensInRange(op, "tokens", tokens, static_cast<long>(B) * T, INT32_MAX); !s)
      return s;
    UseThreads();
    cpu::EncoderForwardCpu(out, tokens, wte, wpe, B, T, C);
    return {};
  }
  Status EncoderBackward(float* dwte, float* dwpe, const float* dout, const int32_t* tokens,
                         const int32_t* tokens_host, int B, int T, int C) override {
    constexpr const char* op = "EncoderBackward";
    // On the CPU tokens and tokens_host are both host copies of the same array; use tokens.
    (void)tokens_host;
    if (auto s = All(Positive(op, "B", B), Positive(op, "T", T), Positive(op, "C", C),
                     NotNull(op, "dwte", dwte), NotNull(op, "dwpe", dwpe),
                     NotNull(op, "dout", dout), NotNull(op, "tokens", tokens));
        !s)
      return s;
    if (auto s = TokensInRange(op, "tokens", tokens, static_cast<long>(B) * T, INT32_MAX); !s)
      return s;
    UseThreads();
    cpu::EncoderBackwardCpu(dwte, dwpe, dout, tokens, B, T, C);
    return {};
  }

  Status LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                          const float* weight, const float* bias, int N, int C) override {
    constexpr const char* op = "LayerNormForward";
    if (auto s = All(Positive(op, "N", N), Positive(op, "C", C), NotNull(op, "out", out),
                     NotNull(op, "mean", mean), NotNull(op, "rstd", rstd), NotNull(op, "inp", inp),
                     NotNull(op, "weight", weight), NotNull(op, "bias", bias));
        !s)
      return s;
    UseThreads();
    cpu::LayerNormForwardCpu(out, mean, rstd, inp, weight, bias, N, C);
    return {};
  }
  Status LayerNormBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                           const float* inp, const float* weight, const float* mean,
                           const float* rstd, int N, int C) override {
    constexpr const char* op = "LayerNormBackward";
    if (auto s =
            All(Positive(op, "N", N), Positive(op, "C", C), NotNull(op, "dinp", dinp),
                NotNull(op, "dweight", dweight), NotNull(op, "dbias", dbias),
                NotNull(op, "dout", dout), NotNull(op, "inp", inp), NotNull(op, "weight", weight),
                NotNull(op, "mean", mean), NotNull(op, "rstd", rstd));
        !s)
      return s;
    UseThreads();
    cpu::LayerNormBackwardCpu(dinp, dweight, dbias, dout, inp, weight, mean, rstd, N, C);
    return {};
  }

  Status MatmulForward(float* out, const float* inp, const float* weight, const float* bias, int N,
                       int C, int OC) override {
    constexpr const char* op = "MatmulForward";
    if (auto s =
            All(Positive(op, "N", N), Positive(op, "C", C), Positive(op, "OC", OC),
                NotNull(op, "out", out), NotNull(op, "inp", inp), NotNull(op, "weight", weight));
        !s)
      return s;
    UseThreads();
    cpu::MatmulForwardCpu(out, inp, weight, bias, N, C, OC);
    return {};
  }
  Status MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, int N, int C, int OC) override {
    constexpr const char* op = "MatmulBackward";
    if (auto s = All(Positive(op, "N", N), Positive(op, "C", C), Positive(op, "OC", OC),
                     NotNull(op, "dweight", dweight), NotNull(op, "dout", dout),
                     NotNull(op, "inp", inp), NotNull(op, "weight", weight));
        !s)
      return s;
    UseThreads();
    cpu::MatmulBackwardCpu(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
    return {};
  }

  Status AttentionForward(float* out, float* lse, const float* qkv, int B, int T, int C,
                          int NH) override {
    constexpr const char* op = "AttentionForward";
    if (auto s = All(Positive(op, "B", B), Positive(op, "T", T), Positive(op, "C", C),
                     Positive(op, "NH", NH), HeadsDivide(op, C, NH), NotNull(op, "out", out),
                     NotNull(op, "lse", lse), NotNull(op, "qkv", qkv));
        !s)
      return s;
    UseThreads();
    cpu::AttentionForwardCpu(out, lse, qkv, B, T, C, NH);
    return {};
  }
  Status AttentionBackward(float* dqkv, const float* dout, const float* qkv, const float* out,
                           const float* lse, int B, int T, int C, int NH) override {
    constexpr const char* op = "AttentionBackward";
    if (auto s = All(Positive(op, "B", B), Positive(op, "T", T), Positive(op, "C", C),
                     Positive(op, "NH", NH), HeadsDivide(op, C, NH), NotNull(op, "dqkv", dqkv),
                     NotNull(op, "dout", dout), NotNull(op, "qkv", qkv), NotNull(op, "out", out),
                     NotNull(op, "lse", lse));
        !s)
      return s;
    UseThreads();
    cpu::AttentionBackwardCpu(dqkv, dout, qkv, out, lse, B, T, C, NH);
    return {};
  }

  Status GeluForward(float* out, const float* inp, size_t n) override {
    if (n == 0) return {};
    if (auto s = All(NotNull("GeluForward", "out", out), NotNull("GeluForward", "inp", inp)); !s)
      return s;
    UseThreads();
    cpu::GeluForwardCpu(out, inp, n);
    return {};
  }
  Status GeluBackward(float* dinp, const float* inp, const float* dout, size_t n) override {
    constexpr const char* op = "GeluBackward";
    if (n == 0) return {};
    if (auto s = All(NotNull(op, "dinp", dinp), NotNull(op, "inp", inp), NotNull(op, "dout", dout));
        !s)
      return s;
    UseThreads();
    cpu::GeluBackwardCpu(dinp, inp, dout, n);
    return {};
  }

  Status ResidualForward(float* out, const float* a, const float* b, size_t n) override {
    constexpr const char* op = "ResidualForward";
    if (n == 0) return {};
    if (auto s = All(NotNull(op, "out", out), NotNull(op, "a", a), NotNull(op, "b", b)); !s)
      return s;
    UseThreads();
    cpu::ResidualForwardCpu(out, a, b, n);
    return {};
  }
  Status ResidualBackward(float* da, float* db, const float* dout, size_t n) override {
    constexpr const char* op = "ResidualBackward";
    if (n == 0) return {};
    if (auto s = All(NotNull(op, "da", da), NotNull(op, "db", db), NotNull(op, "dout", dout)); !s)
      return s;
    UseThreads();
    cpu::ResidualBackwardCpu(da, db, dout, n);
    return {};
  }

  Status SoftmaxCrossEntropy(float* logits, float* losses, float* probs_out, const int32_t* targets,
                             int N, int V, int Vp, float loss_scale, bool write_dlogits) override {
    constexpr const char* op = "SoftmaxCrossEntropy";
    if (auto s = All(Positive(op, "N", N), Positive(op, "V", V), VocabFits(op, V, Vp),
                     NotNull(op, "logits", logits), NotNull(op, "losses", losses),
                     NotNull(op, "targets", targets));
        !s)
      return s;
    if (auto s = TokensInRange(op, "targets", targets, N, V); !s) return s;
    UseThreads();
    cpu::SoftmaxCrossEntropyCpu(logits, losses, probs_out, targets, N, V, Vp, loss_scale,
                                write_dlogits);
    return {};
  }
  Status Softmax(float* probs, const float* logits, int N, int V, int Vp,
                 float temperature) override {
    constexpr const char* op = "Softmax";
    if (auto s = All(Positive(op, "N", N), Positive(op, "V", V), VocabFits(op, V, Vp),
                     NotNull(op, "probs", probs), NotNull(op, "logits", logits));
        !s)
      return s;
    if (!(temperature > 0.0f) || !std::isfinite(1.0f / temperature)) {
      return Fail("Softmax: temperature must be positive and not tiny, got " +
                  std::to_string(temperature) + "; use greedy decoding for temperature 0");
    }
    UseThreads();
    cpu::SoftmaxCpu(probs, logits, N, V, Vp, temperature);
    return {};
  }

  Status EncoderForwardAt(float* out, const int32_t* tokens, const int32_t* positions,
                          const float* wte, const float* wpe, int N, int C) override {
    constexpr const char* op = "EncoderForwardAt";
    if (auto s = All(Positive(op, "N", N), Positive(op, "C", C), NotNull(op, "out", out),
                     NotNull(op, "tokens", tokens), NotNull(op, "positions", positions),
                     NotNull(op, "wte", wte), NotNull(op, "wpe", wpe));
        !s)
      return s;
    if (auto s = All(TokensInRange(op, "tokens", tokens, N, INT32_MAX),
                     IndicesInRange(op, "positions", positions, N, INT32_MAX));
        !s)
      return s;
    UseThreads();
    cpu::EncoderForwardAtCpu(out, tokens, positions, wte, wpe, N, C);
    return {};
  }
  Status KvCacheWrite(float* k_cache, float* v_cache, const float* qkv, const int32_t* slots,
                      const int32_t* positions, int N, int C, int NH, int S, int maxT) override {
    constexpr const char* op = "KvCacheWrite";
    if (auto s = All(Positive(op, "N", N), Positive(op, "C", C), Positive(op, "NH", NH),
                     HeadsDivide(op, C, NH), Positive(op, "S", S), Positive(op, "maxT", maxT),
                     NotNull(op, "k_cache", k_cache), NotNull(op, "v_cache", v_cache),
                     NotNull(op, "qkv", qkv), NotNull(op, "slots", slots),
                     NotNull(op, "positions", positions));
        !s)
      return s;
    if (auto s = All(IndicesInRange(op, "slots", slots, N, S),
                     IndicesInRange(op, "positions", positions, N, maxT));
        !s)
      return s;
    UseThreads();
    cpu::KvCacheWriteCpu(k_cache, v_cache, qkv, slots, positions, N, C, NH, maxT);
    return {};
  }
  Status AttentionDecode(float* out, const float* qkv, const float* k_cache, const float* v_cache,
                         const int32_t* slots, const int32_t* lengths, int N, int C, int NH, int S,
                         int maxT) override {
    constexpr const char* op = "AttentionDecode";
    if (auto s = All(Positive(op, "N", N), Positive(op, "C", C), Positive(op, "NH", NH),
                     HeadsDivide(op, C, NH), Positive(op, "S", S), Positive(op, "maxT", maxT),
                     NotNull(op, "out", out), NotNull(op, "qkv", qkv),
                     NotNull(op, "k_cache", k_cache), NotNull(op, "v_cache", v_cache),
                     NotNull(op, "slots", slots), NotNull(op, "lengths", lengths));
        !s)
      return s;
    if (auto s = IndicesInRange(op, "slots", slots, N, S); !s) return s;
    for (int i = 0; i < N; ++i) {
      if (lengths[i] < 1 || lengths[i] > maxT) {
        return Fail(std::string(op) + ": lengths[" + std::to_string(i) +
                    "] = " + std::to_string(lengths[i]) +
                    " is outside [1, maxT = " + std::to_string(maxT) + "]");
      }
    }
    UseThreads();
    cpu::AttentionDecodeCpu(out, qkv, k_cache, v_cache, slots, lengths, N, C, NH, maxT);
    return {};
  }
  Status MatmulForwardRows(float* out, const float* inp, const float* weight, const float* bias,
                           int N, int C, int OC) override {
    constexpr const char* op = "MatmulForwardRows";
    if (auto s =
            All(Positive(op, "N", N), Positive(op, "C", C), Positive(op, "OC", OC),
                NotNull(op, "out", out), NotNull(op, "inp", inp), NotNull(op, "weight", weight));
        !s)
      return s;
    UseThreads();
    cpu::MatmulForwardRowsCpu(out, inp, weight, bias, N, C, OC);
    return {};
  }

  Status AdamW(float* params, const float* grads, float* m, float* v, size_t n,
               const AdamWParams& p) override {
    constexpr const char* op = "AdamW";
    if (p.step < 1)
      return Fail("AdamW: step must be >= 1 (1-based), got " + std::to_string(p.step));
    if (!(p.beta1 >= 0.0f && p.beta1 < 1.0f && p.beta2 >= 0.0f && p.beta2 < 1.0f)) {
      return Fail("AdamW: beta1 and beta2 must lie in [0, 1), got " + std::to_string(p.beta1) +
                  " and " + std::to_string(p.beta2));
    }
    if (n == 0) return {};
    if (auto s = All(NotNull(op, "params", params), NotNull(op, "grads", grads),
                     NotNull(op, "m", m), NotNull(op, "v", v));
        !s)
      return s;
    UseThreads();
    cpu::AdamWCpu(params, grads, m, v, n, p.lr, p.beta1, p.beta2, p.eps, p.weight_decay, p.step);
    return {};
  }
  Result<float> GlobalNorm(const float* grads, size_t n) override {
    if (n == 0) return 0.0f;
    if (auto s = NotNull("GlobalNorm", "grads", grads); !s) return tl::unexpected(s.error());
    UseThreads();
    return cpu::GlobalNormCpu(grads, n);
  }
  Status Scale(float* x, float factor, size_t n) override {
    if (n == 0) return {};
    if (auto s = NotNull("Scale", "x", x); !s) return s;
    UseThreads();
    cpu::ScaleCpu(x, factor, n);
    return {};
  }

 private:
  static Status VocabFits(const char* op, int V, int Vp) {
    if (Vp >= V) return {};
    return Fail(std::string(op) + ": padded vocabulary Vp=" + std::to_string(Vp) +
                " is smaller than the vocabulary V=" + std::to_string(V));
  }

  // The OpenMP team size is a per-thread setting of the calling thread, and ops.h allows one
  // thread per Ops object at a time, so setting it on every call is enough and costs nothing.
  // (OpenBLAS runs single-threaded inside the matmul's OpenMP tiles, see matmul.cc.)
  void UseThreads() const { omp_set_num_threads(threads_); }

  static int DefaultThreads() {
    static const int kDefault = omp_get_max_threads();
    return kDefault;
  }

  int threads_;  // always >= 1
};

}  // namespace

std::unique_ptr<Ops> MakeCpuOps(int threads) { return std::make_unique<CpuOps>(threads); }

}  // namespace plume::kernels
