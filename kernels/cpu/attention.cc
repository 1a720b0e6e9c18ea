// Causal multi-head self-attention, CPU reference. Sits between c_attn (which produces qkv) and
// c_proj in every block.
//
// Per batch b and head h, with HS = C/NH, scale = 1/sqrt(HS), rows t and keys j <= t:
//   Forward:  s[t,j] = scale * q[t].k[j];  lse[t] = log sum_j exp(s[t,j])
//             P[t,j] = exp(s[t,j] - lse[t]);  out[t] = sum_j P[t,j] v[j]
//   Backward: dP[t,j] = dout[t].v[j];  D[t] = dout[t].out[t] (= sum_j P[t,j] dP[t,j])
//             dS[t,j] = P[t,j] (dP[t,j] - D[t])
//             dq[t] += scale sum_j dS[t,j] k[j];  dk[j] += scale sum_t dS[t,j] q[t]
//             dv[j] += sum_t P[t,j] dout[t]
// Shapes: qkv/dqkv (B,T,3C) as q|k|v, each (B,T,NH,HS); out/dout (B,T,C); lse (B,NH,T).
//
// The backward recomputes P from q, k and lse, so nothing of size (T,T) lives between the
// passes. Work is split over (b,h) only: the dk/dv rows of one head receive contributions from
// every later query row, so a split over t would race. Within a head, K (and V in the backward)
// are copied transposed to (HS,T) scratch so that the inner loops run over contiguous keys
// without a horizontal reduction, which the compiler vectorises.
// The fast_math.h loops vectorise only when the compiler may ignore floating-point exception
// flags, which nothing here reads; results are unchanged (no reassociation is allowed).
#pragma GCC optimize("no-trapping-math")

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_ops.h"
#include "fast_math.h"

namespace plume::kernels::cpu {
namespace {

struct HeadView {
  const float* q;  // row t at q + t * row_stride
  const float* k;
  const float* v;
  long row_stride;  // 3C
  int T;
  int HS;
};

HeadView View(const float* qkv, int b, int h, int T, int C, int HS) {
  const float* base = qkv + static_cast<long>(b) * T * 3 * C + static_cast<long>(h) * HS;
  return HeadView{base, base + C, base + 2 * C, 3L * C, T, HS};
}

// dst (HS,T) = transpose of the (T,HS) rows at src with stride row_stride.
void Transpose(float* dst, const float* src, long row_stride, int T, int HS) {
  for (int j = 0; j < T; ++j) {
    const float* row = src + j * row_stride;
    for (int d = 0; d < HS; ++d) dst[static_cast<long>(d) * T + j] = row[d];
  }
}

// s[0..t] = scale * q[t] . k[j]; kt is K transposed (HS,T). Shared by forward and backward so
// that both compute bit-identical scores.
void Scores(float* s, const float* q_row, const float* kt, int t, int T, int HS, float scale) {
  for (int j = 0; j <= t; ++j) s[j] = 0.0f;
  for (int d = 0; d < HS; ++d) {
    const float qd = q_row[d];
    const float* kd = kt + static_cast<long>(d) * T;
    for (int j = 0; j <= t; ++j) s[j] += qd * kd[j];
  }
  for (int j = 0; j <= t; ++j) s[j] *= scale;
}

void ForwardHead(float* out, float* lse, const HeadView& hv, long out_stride, float* kt,
                 float* s, float* acc) {
  const int T = hv.T, HS = hv.HS;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  Transpose(kt, hv.k, hv.row_stride, T, HS);
  for (int t = 0; t < T; ++t) {
    Scores(s, hv.q + t * hv.row_stride, kt, t, T, HS, scale);
    float mx = s[0];
    for (int j = 1; j <= t; ++j) mx = std::max(mx, s[j]);
    for (int j = 0; j <= t; ++j) s[j] = FastExp(s[j] - mx);
    float sum = 0.0f;
    for (int j = 0; j <= t; ++j) sum += s[j];
    const float inv = 1.0f / sum;
    lse[t] = mx + std::log(sum);
    for (int d = 0; d < HS; ++d) acc[d] = 0.0f;
    for (int j = 0; j <= t; ++j) {
      const float p = s[j] * inv;
      const float* vj = hv.v + j * hv.row_stride;
      for (int d = 0; d < HS; ++d) acc[d] += p * vj[d];
    }
    float* o = out + t * out_stride;
    for (int d = 0; d < HS; ++d) o[d] = acc[d];
  }
}

struct BackwardScratch {
  std::vector<float> kt, vt, p, dp, dq, dk, dv;
  BackwardScratch(int T, int HS)
      : kt(static_cast<size_t>(T) * HS), vt(kt.size()), p(T), dp(T), dq(HS), dk(kt.size()),
        dv(kt.size()) {}
};

// Gradients of one head: dq/dk/dv at the (B,T,3C) layout of dqkv, strides as in hv.
void BackwardHead(float* dq_out, float* dk_out, float* dv_out, const float* dout,
                  const float* out, const float* lse, long out_stride, const HeadView& hv,
                  BackwardScratch& w) {
  const int T = hv.T, HS = hv.HS;
  const float scale = 1.0f / std::sqrt(static_cast<float>(HS));
  Transpose(w.kt.data(), hv.k, hv.row_stride, T, HS);
  Transpose(w.vt.data(), hv.v, hv.row_stride, T, HS);
  std::fill(w.dk.begin(), w.dk.end(), 0.0f);
  std::fill(w.dv.begin(), w.dv.end(), 0.0f);
  float* p = w.p.data();
  float* dp = w.dp.data();
  for (int t = 0; t < T; ++t) {
    const float* qt = hv.q + t * hv.row_stride;
    const float* dot = dout + t * out_stride;
    const float* ot = out + t * out_stride;
    Scores(p, qt, w.kt.data(), t, T, HS, scale);
    for (int j = 0; j <= t; ++j) p[j] = FastExp(p[j] - lse[t]);
    for (int j = 0; j <= t; ++j) dp[j] = 0.0f;
    float D = 0.0f;
    for (int d = 0; d < HS; ++d) {
      const float g = dot[d];
      D += g * ot[d];
      const float* vd = w.vt.data() + static_cast<long>(d) * T;
      for (int j = 0; j <= t; ++j) dp[j] += g * vd[j];
    }
    // dp becomes scale * dS, the factor every product below needs.
    for (int j = 0; j <= t; ++j) dp[j] = scale * p[j] * (dp[j] - D);
    float* dq = w.dq.data();
    for (int d = 0; d < HS; ++d) dq[d] = 0.0f;
    for (int j = 0; j <= t; ++j) {
      const float ds = dp[j];
      const float pj = p[j];
      const float* kj = hv.k + j * hv.row_stride;
      float* dkj = w.dk.data() + static_cast<long>(j) * HS;
      float* dvj = w.dv.data() + static_cast<long>(j) * HS;
      for (int d = 0; d < HS; ++d) {
        dq[d] += ds * kj[d];
        dkj[d] += ds * qt[d];
        dvj[d] += pj * dot[d];
      }
    }
    float* dqt = dq_out + t * hv.row_stride;
    for (int d = 0; d < HS; ++d) dqt[d] += dq[d];
  }
  for (int j = 0; j < T; ++j) {
    float* dkj = dk_out + j * hv.row_stride;
    float* dvj = dv_out + j * hv.row_stride;
    const float* sk = w.dk.data() + static_cast<long>(j) * HS;
    const float* sv = w.dv.data() + static_cast<long>(j) * HS;
    for (int d = 0; d < HS; ++d) {
      dkj[d] += sk[d];
      dvj[d] += sv[d];
    }
  }
}

}  // namespace

void AttentionForwardCpu(float* out, float* lse, const float* qkv, int B, int T, int C, int NH) {
  const int HS = C / NH;
#pragma omp parallel
  {
    std::vector<float> kt(static_cast<size_t>(T) * HS), s(T), acc(HS);
#pragma omp for schedule(static)
    for (int bh = 0; bh < B * NH; ++bh) {
      const int b = bh / NH, h = bh % NH;
      ForwardHead(out + static_cast<long>(b) * T * C + static_cast<long>(h) * HS,
                  lse + static_cast<long>(bh) * T, View(qkv, b, h, T, C, HS), C, kt.data(),
                  s.data(), acc.data());
    }
  }
}

void AttentionBackwardCpu(float* dqkv, const float* dout, const float* qkv, const float* out,
                          const float* lse, int B, int T, int C, int NH) {
  const int HS = C / NH;
#pragma omp parallel
  {
    BackwardScratch scratch(T, HS);
#pragma omp for schedule(static)
    for (int bh = 0; bh < B * NH; ++bh) {
      const int b = bh / NH, h = bh % NH;
      const long head_off = static_cast<long>(b) * T * C + static_cast<long>(h) * HS;
      float* dbase = dqkv + static_cast<long>(b) * T * 3 * C + static_cast<long>(h) * HS;
      BackwardHead(dbase, dbase + C, dbase + 2 * C, dout + head_off, out + head_off,
                   lse + static_cast<long>(bh) * T, C, View(qkv, b, h, T, C, HS), scratch);
    }
  }
}

}  // namespace plume::kernels::cpu
