// Matmul with bias (the linear layers: c_attn, c_proj, c_fc, mlp c_proj, and the tied LM head),
// CPU reference. The three products go through OpenBLAS's cblas_sgemm; bias and its gradient
// are threaded here.
//
// Forward:  out = inp @ weight^T + bias
// Backward: dinp += dout @ weight;  dweight += dout^T @ inp;  dbias += colsum(dout)
// Shapes: inp/dinp (N,C), weight/dweight (OC,C), bias/dbias (OC), out/dout (N,OC).
//
// Threading: every product is cut into fixed output tiles of kTile x kTile, each computed by
// one single-threaded cblas_sgemm call, and the tiles are spread over the OpenMP team. Two
// reasons. OpenBLAS (the pthread build Debian ships) keeps its own thread pool, which fights
// the OpenMP workers that spin after each of the other ops' parallel loops; one pool avoids the
// oversubscription (measured: 3-6x slower matmuls without it on a busy machine). And the tile
// grid depends only on the shape, never on the thread count, so every output element is the
// same sgemm computation whatever the number of threads: bit-identical results. 128 is a
// multiple of the sgemm micro-kernel sizes (tiles of other sizes changed the bits of the edge
// elements in a test) and large enough that re-packing the operands per tile costs little.
#include <cblas.h>

#include <algorithm>

#include "cpu_ops.h"

namespace plume::kernels::cpu {
namespace {

constexpr int kTile = 128;
constexpr int kColumnBlock = 16;  // one cache line of dbias per thread

// OpenBLAS runs single-threaded inside our tiles (see the file comment). The setting is
// process-wide and someone else (a benchmark's baseline) may have changed it, so it is made on
// every call; when it is already 1 that is a store.
void UseSingleThreadedBlas() { openblas_set_num_threads(1); }

int Tiles(int n) { return (n + kTile - 1) / kTile; }

// One tile of C (M,Ncol) += / = op(A) @ op(B) over rows [i0, i0+m) and columns [j0, j0+n).
struct Gemm {
  CBLAS_TRANSPOSE ta, tb;
  int M, Ncol, K;
  const float* a;
  int lda;
  const float* b;
  int ldb;
  float beta;
  float* c;
  int ldc;

  void Tile(int tile) const {
    const int tiles_n = Tiles(Ncol);
    const int i0 = (tile / tiles_n) * kTile, j0 = (tile % tiles_n) * kTile;
    const int m = std::min(kTile, M - i0), n = std::min(kTile, Ncol - j0);
    const float* ap = ta == CblasNoTrans ? a + static_cast<long>(i0) * lda : a + i0;
    const float* bp = tb == CblasNoTrans ? b + j0 : b + static_cast<long>(j0) * ldb;
    cblas_sgemm(CblasRowMajor, ta, tb, m, n, K, 1.0f, ap, lda, bp, ldb, beta,
                c + static_cast<long>(i0) * ldc + j0, ldc);
  }
  int TileCount() const { return Tiles(M) * Tiles(Ncol); }
};

}  // namespace

void MatmulForwardCpu(float* out, const float* inp, const float* weight, const float* bias, int N,
                      int C, int OC) {
  UseSingleThreadedBlas();
  const Gemm g{CblasNoTrans, CblasTrans, N, OC, C, inp, C, weight, C, 0.0f, out, OC};
  const int tiles = g.TileCount();
#pragma omp parallel for schedule(dynamic, 1)
  for (int t = 0; t < tiles; ++t) g.Tile(t);
  if (bias == nullptr) return;
#pragma omp parallel for schedule(static)
  for (int i = 0; i < N; ++i) {
    float* o = out + static_cast<long>(i) * OC;
    for (int j = 0; j < OC; ++j) o[j] += bias[j];
  }
}

void MatmulBackwardCpu(float* dinp, float* dweight, float* dbias, const float* dout,
                       const float* inp, const float* weight, int N, int C, int OC) {
  UseSingleThreadedBlas();
  // dinp (N,C) += dout (N,OC) @ weight (OC,C)
  const Gemm gi{CblasNoTrans, CblasNoTrans, N, C, OC, dout, OC, weight, C, 1.0f, dinp, C};
  // dweight (OC,C) += dout^T (OC,N) @ inp (N,C)
  const Gemm gw{CblasTrans, CblasNoTrans, OC, C, N, dout, OC, inp, C, 1.0f, dweight, C};
  const int tiles_i = dinp != nullptr ? gi.TileCount() : 0;
  const int tiles = tiles_i + gw.TileCount();
  // One loop over the tiles of both products balances them across the team. Tiles of the two
  // products differ in cost (K is OC for one and N for the other), hence the dynamic schedule;
  // it cannot change any result, because each tile is written by exactly one sgemm call.
#pragma omp parallel for schedule(dynamic, 1)
  for (int t = 0; t < tiles; ++t) {
    if (t < tiles_i) {
      gi.Tile(t);
    } else {
      gw.Tile(t - tiles_i);
    }
  }
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
