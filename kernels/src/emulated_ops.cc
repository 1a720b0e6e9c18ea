// EmulatedOps: the CPU backend with GPU-like operand rounding and optional planted faults
// (emulated_ops.h says why this exists).
#include "emulated_ops.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "delegating_ops.h"

namespace plume::kernels {
namespace {

std::vector<float> Rounded(Rounding r, const float* x, size_t n) {
  std::vector<float> out(x, x + n);
  if (r != Rounding::kNone) {
    for (auto& v : out) v = RoundTo(r, v);
  }
  return out;
}

class EmulatedOps final : public DelegatingOps {
 public:
  EmulatedOps(Rounding rounding, Fault fault, int threads)
      : DelegatingOps(MakeCpuOps(threads)), rounding_(rounding), fault_(fault) {}

  std::string DeviceName() const override {
    const char* r = rounding_ == Rounding::kTf32   ? "tf32"
                    : rounding_ == Rounding::kBf16 ? "bf16"
                                                   : "fp32";
    std::string name = "cpu emulating " + std::string(r) + " matmuls";
    if (fault_ != Fault::kNone) name += " with a broken " + FaultOp(fault_);
    return name;
  }

  Status LayerNormForward(float* out, float* mean, float* rstd, const float* inp,
                          const float* weight, const float* bias, int N, int C) override {
    std::vector<float> zero;
    if (fault_ == Fault::kLayerNormDropsBias && bias != nullptr) {
      zero.assign(size_t(C), 0.0f);
      bias = zero.data();
    }
    return inner().LayerNormForward(out, mean, rstd, inp, weight, bias, N, C);
  }

  Status MatmulForward(float* out, const float* inp, const float* weight, const float* bias,
                       int N, int C, int OC) override {
    if (N <= 0 || C <= 0 || OC <= 0 || !out || !inp || !weight) {
      return inner().MatmulForward(out, inp, weight, bias, N, C, OC);  // its error message
    }
    const auto x = Rounded(rounding_, inp, size_t(N) * C);
    auto w = Rounded(rounding_, weight, size_t(OC) * C);
    if (fault_ == Fault::kMatmulDropsBias) bias = nullptr;
    if (fault_ == Fault::kMatmulTransposedWeight) {
      // The (OC,C) weight read as a row-major (C,OC) matrix: element (o,c) taken from c*OC+o.
      std::vector<float> t(w.size());
      for (int o = 0; o < OC; ++o) {
        for (int c = 0; c < C; ++c) t[size_t(o) * C + c] = w[size_t(c) * OC + o];
      }
      w.swap(t);
    }
    return inner().MatmulForward(out, x.data(), w.data(), bias, N, C, OC);
  }
  Status MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, int N, int C, int OC) override {
    if (N <= 0 || C <= 0 || OC <= 0 || !dout || !inp || !weight) {
      return inner().MatmulBackward(dinp, dweight, dbias, dout, inp, weight, N, C, OC);
    }
    // The bias gradient is a plain fp32 column sum on a GPU: keep it off the rounded operand.
    if (dbias != nullptr) {
      std::vector<float> scratch(size_t(OC) * C, 0.0f);
      auto s = inner().MatmulBackward(nullptr, scratch.data(), dbias, dout, inp, weight, N, C, OC);
      if (!s) return s;
    }
    const auto g = Rounded(rounding_, dout, size_t(N) * OC);
    const auto x = Rounded(rounding_, inp, size_t(N) * C);
    const auto w = Rounded(rounding_, weight, size_t(OC) * C);
    return inner().MatmulBackward(dinp, dweight, nullptr, g.data(), x.data(), w.data(), N, C, OC);
  }

  Status GeluBackward(float* dinp, const float* inp, const float* dout, size_t n) override {
    if (fault_ != Fault::kGeluBackwardSign || !dinp || !inp || !dout) {
      return inner().GeluBackward(dinp, inp, dout, n);
    }
    std::vector<float> g(n, 0.0f);
    if (auto s = inner().GeluBackward(g.data(), inp, dout, n); !s) return s;
    for (size_t i = 0; i < n; ++i) dinp[i] -= g[i];
    return {};
  }
  Status SoftmaxCrossEntropy(float* logits, float* losses, float* probs_out,
                             const int32_t* targets, int N, int V, int Vp, float loss_scale,
                             bool write_dlogits) override {
    std::vector<int32_t> shifted;
    if (fault_ == Fault::kSoftmaxTargetOffByOne && targets != nullptr && N > 0 && V > 0) {
      shifted.assign(targets, targets + N);
      for (auto& t : shifted) t = (t + 1) % V;
      targets = shifted.data();
    }
    return inner().SoftmaxCrossEntropy(logits, losses, probs_out, targets, N, V, Vp, loss_scale,
                                     write_dlogits);
  }
 private:
  Rounding rounding_;
  Fault fault_;
};

}  // namespace

std::string FaultOp(Fault fault) {
  switch (fault) {
    case Fault::kNone: return "";
    case Fault::kGeluBackwardSign: return "gelu_backward";
    case Fault::kSoftmaxTargetOffByOne: return "softmax_cross_entropy";
    case Fault::kMatmulDropsBias: return "matmul_forward";
    case Fault::kMatmulTransposedWeight: return "matmul_forward";
    case Fault::kLayerNormDropsBias: return "layernorm_forward";
  }
  return "";
}

float RoundTo(Rounding rounding, float x) {
  if (rounding == Rounding::kNone || !std::isfinite(x)) return x;
  const int dropped = rounding == Rounding::kTf32 ? 13 : 16;  // of fp32's 23 mantissa bits
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  const uint32_t half = 1u << (dropped - 1);
  const uint32_t lsb = (bits >> dropped) & 1u;  // ties to even
  bits += half - 1 + lsb;
  bits &= ~((1u << dropped) - 1u);
  std::memcpy(&x, &bits, 4);
  return x;
}

std::unique_ptr<Ops> MakeEmulatedOps(Rounding rounding, Fault fault, int threads) {
  return std::make_unique<EmulatedOps>(rounding, fault, threads);
}

}  // namespace plume::kernels
