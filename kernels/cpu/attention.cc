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
// Work is split over (b,h) only: the dk/dv rows of one head receive contributions from every
// later query row, so a split over t would race. Within a head, query rows go in blocks of
// kQueryBlock; a block attends to keys 0..(its last row), so the products are small dense
// matrices done by single-threaded cblas_sgemm (the bulk of the FLOPs), and only the softmax is
// element-wise. The (block, T) score scratch lives per thread for one block; nothing of size
// (T,T) survives between the passes: the backward recomputes P from q, k and lse. Above the
// diagonal the scores are computed and then zeroed, about half a block of wasted work per block.
// Every (b,h) is done by one thread in a fixed order, so results do not depend on the thread
// count.

// The fast_math.h loops vectorise only when the compiler may ignore floating-point exception
// flags, which nothing here reads; results are unchanged (no reassociation is allowed).
#pragma GCC optimize("no-trapping-math")

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu_ops.h"
#include "fast_math.h"

namespace plume::kernels::cpu {
namespace {

constexpr int kQueryBlock = 64;

// One head's view of the tensors: row t of q at q + t * ld, of out at out + t * C.
struct Head {
  const float* q;
  const float* k;
  const float* v;
  int ld;  // 3C
  int T, HS, C;
  float scale;
};

Head MakeHead(const float* qkv, int b, int h, int T, int C, int NH) {
  const int HS = C / NH;
  const float* base = qkv + static_cast<long>(b) * T * 3 * C + static_cast<long>(h) * HS;
  return Head{
      base, base + C, base + 2 * C, 3 * C, T, HS, C, 1.0f / std::sqrt(static_cast<float>(HS))};
}

// S (m, nk) = scale * q[r0..r0+m) k[0..nk)^T, with nk = r0 + m.
void Scores(float* S, const Head& hd, int r0, int m) {
  const int nk = r0 + m;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nk, hd.HS, hd.scale,
              hd.q + static_cast<long>(r0) * hd.ld, hd.ld, hd.k, hd.ld, 0.0f, S, nk);
}

void ForwardHead(float* out, float* lse, const Head& hd, float* S) {
  for (int r0 = 0; r0 < hd.T; r0 += kQueryBlock) {
    const int m = std::min(kQueryBlock, hd.T - r0), nk = r0 + m;
    Scores(S, hd, r0, m);
    for (int i = 0; i < m; ++i) {
      const int t = r0 + i;
      float* s = S + static_cast<long>(i) * nk;
      float mx = s[0];
      for (int j = 1; j <= t; ++j) mx = std::max(mx, s[j]);
      for (int j = 0; j <= t; ++j) s[j] = FastExp(s[j] - mx);
      float sum = 0.0f;
      for (int j = 0; j <= t; ++j) sum += s[j];
      const float inv = 1.0f / sum;
      for (int j = 0; j <= t; ++j) s[j] *= inv;
      for (int j = t + 1; j < nk; ++j) s[j] = 0.0f;
      lse[t] = mx + std::log(sum);
    }
    // out rows (m, HS) = P (m, nk) @ v[0..nk)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hd.HS, nk, 1.0f, S, nk, hd.v, hd.ld,
                0.0f, out + static_cast<long>(r0) * hd.C, hd.C);
  }
}

// dq/dk/dv point at this head's parts of dqkv (row stride hd.ld); dout/out at its (B,T,C) part.
void BackwardHead(float* dq, float* dk, float* dv, const float* dout, const float* out,
                  const float* lse, const Head& hd, float* P, float* dP) {
  for (int r0 = 0; r0 < hd.T; r0 += kQueryBlock) {
    const int m = std::min(kQueryBlock, hd.T - r0), nk = r0 + m;
    const float* dout_blk = dout + static_cast<long>(r0) * hd.C;
    Scores(P, hd, r0, m);
    // dP (m, nk) = dout rows @ v[0..nk)^T
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, nk, hd.HS, 1.0f, dout_blk, hd.C, hd.v,
                hd.ld, 0.0f, dP, nk);
    for (int i = 0; i < m; ++i) {
      const int t = r0 + i;
      float* p = P + static_cast<long>(i) * nk;
      float* dp = dP + static_cast<long>(i) * nk;
      const float* go = dout_blk + static_cast<long>(i) * hd.C;
      const float* o = out + static_cast<long>(t) * hd.C;
      float D = 0.0f;
      for (int d = 0; d < hd.HS; ++d) D += go[d] * o[d];
      for (int j = 0; j <= t; ++j) p[j] = FastExp(p[j] - lse[t]);
      for (int j = t + 1; j < nk; ++j) p[j] = 0.0f;
      // dp becomes scale * dS, the factor both dq and dk need; 0 above the diagonal.
      for (int j = 0; j < nk; ++j) dp[j] = hd.scale * p[j] * (dp[j] - D);
    }
    // dq rows += dS @ k[0..nk);  dk[0..nk) += dS^T @ q rows;  dv[0..nk) += P^T @ dout rows
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, hd.HS, nk, 1.0f, dP, nk, hd.k, hd.ld,
                1.0f, dq + static_cast<long>(r0) * hd.ld, hd.ld);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, hd.HS, m, 1.0f, dP, nk,
                hd.q + static_cast<long>(r0) * hd.ld, hd.ld, 1.0f, dk, hd.ld);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, nk, hd.HS, m, 1.0f, P, nk, dout_blk, hd.C,
                1.0f, dv, hd.ld);
  }
}

}  // namespace

void AttentionForwardCpu(float* out, float* lse, const float* qkv, int B, int T, int C, int NH) {
  const int HS = C / NH;
  openblas_set_num_threads(1);  // the heads are the parallelism; see matmul.cc
#pragma omp parallel
  {
    std::vector<float> S(static_cast<size_t>(kQueryBlock) * T);
#pragma omp for schedule(static)
    for (int bh = 0; bh < B * NH; ++bh) {
      const int b = bh / NH, h = bh % NH;
      ForwardHead(out + static_cast<long>(b) * T * C + static_cast<long>(h) * HS,
                  lse + static_cast<long>(bh) * T, MakeHead(qkv, b, h, T, C, NH), S.data());
    }
  }
}

void AttentionBackwardCpu(float* dqkv, const float* dout, const float* qkv, const float* out,
                          const float* lse, int B, int T, int C, int NH) {
  const int HS = C / NH;
  openblas_set_num_threads(1);
#pragma omp parallel
  {
    std::vector<float> P(static_cast<size_t>(kQueryBlock) * T), dP(P.size());
#pragma omp for schedule(static)
    for (int bh = 0; bh < B * NH; ++bh) {
      const int b = bh / NH, h = bh % NH;
      const long head_off = static_cast<long>(b) * T * C + static_cast<long>(h) * HS;
      float* dbase = dqkv + static_cast<long>(b) * T * 3 * C + static_cast<long>(h) * HS;
      BackwardHead(dbase, dbase + C, dbase + 2 * C, dout + head_off, out + head_off,
                   lse + static_cast<long>(bh) * T, MakeHead(qkv, b, h, T, C, NH), P.data(),
                   dP.data());
    }
  }
}

}  // namespace plume::kernels::cpu
