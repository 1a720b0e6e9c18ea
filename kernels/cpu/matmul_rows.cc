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
//
// While a tile computes, it asks for the next weight block to be brought into L2 (a prefetch
// hint, which changes no result). Without it, fetching the weights and computing on them take
// turns: the first row tile of a block waits on memory, and the hardware prefetcher goes idle
// while the other row tiles compute from L1. Measured on a 2-core Zen 4 with GPT-2 124M's
// matrices at 16 rows, the matmuls went from 42.5 ms to 28.9 ms a step, with no change at one row
// (bench/RESULTS.md). Hinting into L1 instead gained nothing, and non-temporal hints little.
#include <algorithm>

#include "cpu_ops.h"
#include "lanes.h"

namespace plume::kernels::cpu {
namespace {

constexpr int kRowTile = 4;
constexpr int kColTile = 3;
constexpr int kCacheLine = 64;

// The part of the next weight block that one row tile asks for: `lines` cache lines from `at`,
// spread over the tile's k loop (one or more a step) so the requests flow at the rate of compute.
struct Prefetch {
  const char* at = nullptr;
  int lines = 0;
};

#ifdef PLUME_LANES_AVX2
// R input rows x NC weight rows, all of C; out rows have stride ldo.
template <int R, int NC>
void Tile(float* out, int ldo, const float* inp, const float* w, const float* bias, int C,
          Prefetch pf) {
  __m256 acc[R][NC];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < NC; ++j) acc[r][j] = _mm256_setzero_ps();
  }
  const int full = C / kLanes * kLanes;
  const int steps = full / kLanes;
  for (int k = 0; k < full; k += kLanes) {
    for (int line = k / kLanes; line < pf.lines; line += steps) {
      _mm_prefetch(pf.at + static_cast<long>(line) * kCacheLine, _MM_HINT_T1);
    }
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
              int C, Prefetch pf) {
  switch (nc) {
    case 3:
      return Tile<R, 3>(out, ldo, inp, w, bias, C, pf);
    case 2:
      return Tile<R, 2>(out, ldo, inp, w, bias, C, pf);
    default:
      return Tile<R, 1>(out, ldo, inp, w, bias, C, pf);
  }
}

void AnyTile(int r, int nc, float* out, int ldo, const float* inp, const float* w,
             const float* bias, int C, Prefetch pf) {
  switch (r) {
    case 4:
      return TileCols<4>(nc, out, ldo, inp, w, bias, C, pf);
    case 3:
      return TileCols<3>(nc, out, ldo, inp, w, bias, C, pf);
    case 2:
      return TileCols<2>(nc, out, ldo, inp, w, bias, C, pf);
    default:
      return TileCols<1>(nc, out, ldo, inp, w, bias, C, pf);
  }
}
#else
void AnyTile(int r, int nc, float* out, int ldo, const float* inp, const float* w,
             const float* bias, int C, Prefetch) {
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
  // Each row tile asks for its share of the next block's lines. At one row tile (N <= 4) the
  // loads already stream the weights back to back, and the hardware prefetcher keeps up.
  const int row_tiles = (N + kRowTile - 1) / kRowTile;
  const long block_lines = (static_cast<long>(kColTile) * C * 4 + kCacheLine - 1) / kCacheLine;
  const int lines_per_tile = row_tiles > 1 ? static_cast<int>(block_lines / row_tiles + 1) : 0;
#pragma omp parallel for schedule(static)
  for (int cb = 0; cb < col_blocks; ++cb) {
    const int j0 = cb * kColTile;
    const int nc = std::min(kColTile, OC - j0);
    const float* w = weight + static_cast<long>(j0) * C;
    const float* b = bias != nullptr ? bias + j0 : nullptr;
    // The next block starts where this one ends; the last block asks for nothing.
    const int next_rows = std::min(kColTile, OC - j0 - nc);
    const long next_lines = (static_cast<long>(next_rows) * C * 4 + kCacheLine - 1) / kCacheLine;
    for (int i0 = 0, t = 0; i0 < N; i0 += kRowTile, ++t) {
      Prefetch pf;
      const long first = static_cast<long>(t) * lines_per_tile;
      if (first < next_lines) {
        pf.at = reinterpret_cast<const char*>(w + static_cast<long>(nc) * C) + first * kCacheLine;
        pf.lines = static_cast<int>(std::min<long>(lines_per_tile, next_lines - first));
      }
      AnyTile(std::min(kRowTile, N - i0), nc, out + static_cast<long>(i0) * OC + j0, OC,
              inp + static_cast<long>(i0) * C, w, b, C, pf);
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
