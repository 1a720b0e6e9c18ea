// Matmul with bias (the linear layers: c_attn, c_proj, c_fc, mlp c_proj, and the tied LM head),
// CPU reference. The three products go through OpenBLAS's cblas_sgemm; bias and its gradient
// are threaded here.
//
// Forward:  out = inp @ weight^T + bias
// Backward: dinp += dout @ weight;  dweight += dout^T @ inp;  dbias += colsum(dout)
// Shapes: inp/dinp (N,C), weight/dweight (OC,C), bias/dbias (OC), out/dout (N,OC).
#include <algorithm>

#include <cblas.h>

#include "cpu_ops.h"

namespace plume::kernels::cpu {
namespace {
constexpr int kColumnBlock = 16;  // one cache line of dbias per thread
}  // namespace

void MatmulForwardCpu(float* out, const float* inp, const float* weight, const float* bias, int N,
                      int C, int OC) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, OC, C, 1.0f, inp, C, weight, C, 0.0f,
              out, OC);
  if (bias == nullptr) return;
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    float* o = out + static_cast<long>(i) * OC;
    for (int j = 0; j < OC; ++j) o[j] += bias[j];
  }
}

void MatmulBackwardCpu(float* dinp, float* dweight, float* dbias, const float* dout,
                       const float* inp, const float* weight, int N, int C, int OC) {
  if (dinp != nullptr) {
    // dinp (N,C) += dout (N,OC) @ weight (OC,C)
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, C, OC, 1.0f, dout, OC, weight, C,
                1.0f, dinp, C);
  }
  // dweight (OC,C) += dout^T (OC,N) @ inp (N,C)
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f,
              dweight, C);
  if (dbias == nullptr) return;
  // Column sums split by column blocks: each output summed over rows in order by one thread.
  const int blocks = (OC + kColumnBlock - 1) / kColumnBlock;
#pragma omp parallel for schedule(static)
  for (int blk = 0; blk < blocks; ++blk) {
    const int j0 = blk * kColumnBlock;
    const int j1 = std::min(OC, j0 + kColumnBlock);
    float acc[kColumnBlock] = {};
    for (int i = 0; i < N; ++i) {
      const float* d = dout + static_cast<long>(i) * OC;
      for (int j = j0; j < j1; ++j) acc[j - j0] += d[j];
    }
    for (int j = j0; j < j1; ++j) dbias[j] += acc[j - j0];
  }
}

}  // namespace plume::kernels::cpu
