// The index arithmetic of matmul_bf16.cu (which BF16 copy of which operand, which 16-byte chunk
// goes where in shared memory, where each WMMA fragment starts, which output element an
// accumulator entry is), for host and device alike: the kernel uses it, and
// kernels/bf16_emulation.h replays the kernel's tiles, stages and fragments on the CPU with it,
// so that a machine without a GPU checks this arithmetic against the reference.
// Plain C++ when not compiled by nvcc.
#pragma once

#ifdef __CUDACC__
#define PLUME_HD __host__ __device__ __forceinline__
#else
#define PLUME_HD inline
#endif

namespace plume::kernels::cuda::bf16mm {

constexpr int kBM = 128, kBN = 128, kBK = 32;  // block tile M x N, k slice per stage
constexpr int kStages = 4;                     // k slices in flight
constexpr int kThreads = 256;                  // 8 warps: 2 (M) x 4 (N), each 64 x 32
constexpr int kWarpsN = 4, kWarpM = 64, kWarpN = 32;
constexpr int kSkew = 8;                          // bf16 of padding per smem row (16 bytes)
constexpr int kTileElems = kBM * (kBK + kSkew);   // max(128 x 40, 32 x 136): one operand slice
constexpr int kChunkK = 4096;                     // k converted to BF16 per pass

PLUME_HD constexpr int RoundUp8(int x) { return (x + 7) / 8 * 8; }

// The BF16 copy of one operand for the k chunk [k0, k0+kc): rows [r0, r0+rows) x columns
// [c0, c0+cols) of the stored fp32 matrix become a (rows, ld) matrix, zero in columns
// [cols, ld). ld is a multiple of 8, so every 16-byte chunk of a row is all inside or all out.
struct OperandCopy {
  int r0, c0, rows, cols, ld;
};
// `k_is_row`: the operand is stored with k as its row index (A when transposed, B when not);
// `other` is its other extent (M for A, Ng for B).
PLUME_HD OperandCopy ChunkCopy(bool k_is_row, int other, int k0, int kc) {
  return k_is_row ? OperandCopy{k0, 0, kc, other, RoundUp8(other)}
                  : OperandCopy{0, k0, other, kc, RoundUp8(kc)};
}

// A stage holds, per operand, a tile of R x Cn elements with rows of Cn + kSkew: for A
// (kTransA ? kBK x kBM : kBM x kBK), for B (kTransB ? kBN x kBK : kBK x kBN). The tile starts at
// row r0, column c0 of the BF16 copy.
struct TileOrigin {
  int r0, c0;
};
PLUME_HD TileOrigin ATileOrigin(bool trans, int m0, int k0) {
  return trans ? TileOrigin{k0, m0} : TileOrigin{m0, k0};
}
PLUME_HD TileOrigin BTileOrigin(bool trans, int n0, int k0) {
  return trans ? TileOrigin{n0, k0} : TileOrigin{k0, n0};
}
PLUME_HD constexpr int ATileCols(bool trans) { return trans ? kBM : kBK; }
PLUME_HD constexpr int BTileCols(bool trans) { return trans ? kBK : kBN; }

// The 16-byte chunk number `chunk` of a tile Cn wide: its row and first column in the tile.
// Consecutive chunks run along a row, so consecutive threads read consecutive global memory.
struct TileChunk {
  int r, c;
};
PLUME_HD TileChunk ChunkAt(int chunk, int Cn) { return {chunk / (Cn / 8), (chunk % (Cn / 8)) * 8}; }
// Whether the chunk lies inside the copy (else it is zero-filled, not read).
PLUME_HD bool ChunkValid(TileOrigin o, TileChunk t, int rows, int ld) {
  return o.r0 + t.r < rows && o.c0 + t.c < ld;
}

// Where in a stage's A (B) tile the 16x16 fragment i (j) of warp (wm, wn) at k offset kk starts,
// and the tile's row length; a transposed operand is read as a column-major fragment.
PLUME_HD int AFragOffset(bool trans, int wm, int i, int kk) {
  const int m = wm * kWarpM + i * 16;
  return trans ? kk * (kBM + kSkew) + m : m * (kBK + kSkew) + kk;
}
PLUME_HD int BFragOffset(bool trans, int wn, int j, int kk) {
  const int n = wn * kWarpN + j * 16;
  return trans ? n * (kBK + kSkew) + kk : kk * (kBN + kSkew) + n;
}
PLUME_HD constexpr int ALd(bool trans) { return ATileCols(trans) + kSkew; }
PLUME_HD constexpr int BLd(bool trans) { return BTileCols(trans) + kSkew; }

// The output element of entry e (row-major 16x16) of accumulator (i, j) of warp (wm, wn).
struct OutIndex {
  int m, n;
};
PLUME_HD OutIndex OutAt(int m0, int n0, int wm, int wn, int i, int j, int e) {
  return {m0 + wm * kWarpM + i * 16 + e / 16, n0 + wn * kWarpN + j * 16 + e % 16};
}

}  // namespace plume::kernels::cuda::bf16mm
