// The decode matmul, CPU: out (N,OC) = inp (N,C) @ weight (OC,C)^T + bias, for the few rows of a
// decode step (one per sequence), with each output row's bits a function of its own input row
// only. That is what lets a sequence decode to the same bits alone or in a batch of 16 (ops.h
// MatmulForwardRows); cblas_sgemm gives no such promise (OpenBLAS picks its kernel, even gemv,
// by shape, and a row's bits change with the rows around it).
//
// Every output element is one dot product in the fixed order of lanes.h. The loop nest only
// decides which elements are computed together: tiles of kRowTile rows x kColTile weight rows,
// so one pass over a weight row serves every input row (a decode step reads the weights once,
// whatever the batch), with 12 accumulators + 3 weight vectors + 1 input vector = 16 AVX2
// registers. Threads split the weight rows (columns of out) in fixed blocks; each element is
// computed by one thread, so the thread count cannot change a bit either.
#include <algorithm>

#include "cpu_ops.h"
#include "lanes.h"

namespace plume::kernels::cpu {
namespace {

constexpr int kRowTile = 4;
constexpr int kColTile = 3;

#ifdef PLUME_LANES_AVX2
// R input rows x NC weight rows, all of C; out rows have stride ldo.
template <int R, int NC>
void Tile(float* out, int ldo, const float* inp, const float* w, const float* bias, int C) {
  __m256 acc[R][NC];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < NC; ++j) acc[r][j] = _mm256_setzero_ps();
  }
  const int full = C / kLanes * kLanes;
  for (int k = 0; k < full; k += kLanes) {
    __m256 wv[NC];
    for (int j = 0; j < NC; ++j) wv[j] = _mm256_loadu_ps(w + static_cast<long>(j) * C + k);
    for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_loadu_ps(inp + static_cast<long>(r) * C + k);
      for (int j = 0; j < NC; ++j) acc[r][j] = _mm256_fmadd_ps(x, wv[j], acc[r][j]);
    }
  }
  if (full < C) {
    const __m256i m = FirstLanes(C - full);
    __m256 wv[NC];
    for (int j = 0; j < NC; ++j) wv[j] = _mm256_maskload_ps(w + static_cast<long>(j) * C + full, m);
    for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_maskload_ps(inp + static_cast<long>(r) * C + full, m);
      for (int j = 0; j < NC; ++j) acc[r][j] = _mm256_fmadd_ps(x, wv[j], acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < NC; ++j) {
      const float s = LaneSum(acc[r][j]);
      out[static_cast<long>(r) * ldo + j] = bias != nullptr ? s + bias[j] : s;
    }
  }
}

template <int R>
void TileCols(int nc, float* out, int ldo, const float* inp, const float* w, const float* bias,
              int C) {
  switch (nc) {
    case 3:
      return Tile<R, 3>(out, ldo, inp, w, bias, C);
    case 2:
      return Tile<R, 2>(out, ldo, inp, w, bias, C);
    default:
      return Tile<R, 1>(out, ldo, inp, w, bias, C);
  }
}

void AnyTile(int r, int nc, float* out, int ldo, const float* inp, const float* w,
             const float* bias, int C) {
  switch (r) {
    case 4:
      return TileCols<4>(nc, out, ldo, inp, w, bias, C);
    case 3:
      return TileCols<3>(nc, out, ldo, inp, w, bias, C);
    case 2:
      return TileCols<2>(nc, out, ldo, inp, w, bias, C);
    default:
      return TileCols<1>(nc, out, ldo, inp, w, bias, C);
  }
}
#else
void AnyTile(int r, int nc, float* out, int ldo, const float* inp, const float* w,
             const float* bias, int C) {
  for (int i = 0; i < r; ++i) {
    for (int j = 0; j < nc; ++j) {
      const float s = DotPortable(inp + static_cast<long>(i) * C, w + static_cast<long>(j) * C, C);
      out[static_cast<long>(i) * ldo + j] = bias != nullptr ? s + bias[j] : s;
    }
  }
}
#endif

}  // namespace

void MatmulForwardRowsCpu(float* out, const float* inp, const float* weight, const float* bias,
                          int N, int C, int OC) {
  const int col_blocks = (OC + kColTile - 1) / kColTile;
#pragma omp parallel for schedule(static)
  for (int cb = 0; cb < col_blocks; ++cb) {
    const int j0 = cb * kColTile;
    const int nc = std::min(kColTile, OC - j0);
    const float* w = weight + static_cast<long>(j0) * C;
    const float* b = bias != nullptr ? bias + j0 : nullptr;
    for (int i0 = 0; i0 < N; i0 += kRowTile) {
      AnyTile(std::min(kRowTile, N - i0), nc, out + static_cast<long>(i0) * OC + j0, OC,
              inp + static_cast<long>(i0) * C, w, b, C);
    }
  }
}

void MatmulForwardRowsPortableCpu(float* out, const float* inp, const float* weight,
                                  const float* bias, int N, int C, int OC) {
  for (int i = 0; i < N; ++i) {
    for (int j = 0; j < OC; ++j) {
      const float s =
          DotPortable(inp + static_cast<long>(i) * C, weight + static_cast<long>(j) * C, C);
      out[static_cast<long>(i) * OC + j] = bias != nullptr ? s + bias[j] : s;
    }
  }
}

}  // namespace plume::kernels::cpu
