// Per-op throughput of the CPU backend at the GPT-2 124M training shape (B=4, T=64, C=768,
// NH=12, Vp=50304; N = B*T = 256 rows). Napkin math: matmul is judged against a raw
// cblas_sgemm of the same shape on the same threads (the ceiling this backend can reach),
// attention by its causal FLOPs, LayerNorm and the loss by bytes moved.
//
//   build-*/bench/kernels/cpu_ops_bench --benchmark_counters_tabular=true
//
// On a shared (oversubscribed) machine export OMP_WAIT_POLICY=passive: libgomp's default
// spinning between parallel regions then steals the CPU the ops need (matmul measured 5x slower
// than the raw sgemm that way, equal with passive waits, at load 10 on 2 cores).
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>

#include <random>
#include <vector>

#include "cpu_ops.h"
#include "cpu_test_util.h"
#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace {

using testing::RandomTokens;
using testing::RandomVec;

constexpr int kB = 4, kT = 64, kC = 768, kNH = 12, kN = kB * kT, kV = 50257, kVp = 50304;

Ops& TheOps() {
  static auto ops = MakeCpuOps();
  return *ops;
}

void SetFlops(benchmark::State& state, double flops_per_iter) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(flops_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}
void SetBytes(benchmark::State& state, double bytes_per_iter) {
  state.counters["GB/s"] =
      benchmark::Counter(bytes_per_iter * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

// Args: C, OC (the linear layers of one block, and the LM head).
void MatmulArgs(benchmark::internal::Benchmark* b) {
  b->Args({768, 2304})->Args({768, 768})->Args({768, 3072})->Args({3072, 768})->Args({768, kVp});
  b->ArgNames({"C", "OC"})->Unit(benchmark::kMicrosecond)->UseRealTime();
}

void BM_RawSgemm(benchmark::State& state) {
  const int C = state.range(0), OC = state.range(1);
  // OpenBLAS's own threading on as many threads as the ops use; the matmul ops set it back to 1
  // for their tiles on every call.
  openblas_set_num_threads(omp_get_max_threads());
  const auto x = RandomVec(size_t{kN} * C, 1), w = RandomVec(static_cast<size_t>(OC) * C, 2);
  std::vector<float> out(static_cast<size_t>(kN) * OC);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, kN, OC, C, 1.0f, x.data(), C, w.data(), C,
                0.0f, out.data(), OC);
    benchmark::DoNotOptimize(out.data());
  }
  SetFlops(state, 2.0 * kN * C * OC);
}
BENCHMARK(BM_RawSgemm)->Apply(MatmulArgs);

void BM_MatmulForward(benchmark::State& state) {
  const int C = state.range(0), OC = state.range(1);
  const auto x = RandomVec(size_t{kN} * C, 1), w = RandomVec(static_cast<size_t>(OC) * C, 2),
             bias = RandomVec(OC, 3);
  std::vector<float> out(static_cast<size_t>(kN) * OC);
  for (auto _ : state) {
    if (!TheOps().MatmulForward(out.data(), x.data(), w.data(), bias.data(), kN, C, OC))
      state.SkipWithError("MatmulForward failed");
  }
  SetFlops(state, 2.0 * kN * C * OC);
}
BENCHMARK(BM_MatmulForward)->Apply(MatmulArgs);

void BM_MatmulBackward(benchmark::State& state) {
  const int C = state.range(0), OC = state.range(1);
  const auto x = RandomVec(size_t{kN} * C, 1), w = RandomVec(static_cast<size_t>(OC) * C, 2),
             d = RandomVec(static_cast<size_t>(kN) * OC, 3);
  std::vector<float> dx(x.size()), dw(w.size()), db(OC);
  for (auto _ : state) {
    if (!TheOps().MatmulBackward(dx.data(), dw.data(), db.data(), d.data(), x.data(), w.data(), kN,
                                 C, OC))
      state.SkipWithError("MatmulBackward failed");
  }
  SetFlops(state, 4.0 * kN * C * OC);
}
BENCHMARK(BM_MatmulBackward)->Apply(MatmulArgs);

// Causal attention, forward and backward. Per (b,h) with P = T(T+1)/2 pairs: forward 4*P*HS
// (scores, weighted sum), backward 10*P*HS (recomputed scores, dP, dq, dk, dv).
void BM_AttentionForwardBackward(benchmark::State& state) {
  const auto qkv = RandomVec(size_t{kN} * 3 * kC, 4), d = RandomVec(size_t{kN} * kC, 5);
  std::vector<float> out(size_t{kN} * kC), lse(size_t{kB} * kNH * kT), dqkv(qkv.size());
  for (auto _ : state) {
    if (!TheOps().AttentionForward(out.data(), lse.data(), qkv.data(), kB, kT, kC, kNH) ||
        !TheOps().AttentionBackward(dqkv.data(), d.data(), qkv.data(), out.data(), lse.data(), kB,
                                    kT, kC, kNH))
      state.SkipWithError("attention failed");
  }
  const double pairs = kT * (kT + 1) / 2.0;
  SetFlops(state, 14.0 * pairs * (kC / kNH) * kB * kNH);
}
BENCHMARK(BM_AttentionForwardBackward)->Unit(benchmark::kMicrosecond)->UseRealTime();

// LayerNorm: the forward reads inp and writes out (2 N*C floats); the backward reads dout and
// inp and updates dinp (4 N*C floats). The (C) vectors are noise.
void BM_LayerNormForwardBackward(benchmark::State& state) {
  const auto x = RandomVec(size_t{kN} * kC, 6), w = RandomVec(kC, 7), b = RandomVec(kC, 8),
             d = RandomVec(size_t{kN} * kC, 9);
  std::vector<float> out(x.size()), mean(kN), rstd(kN), dx(x.size()), dw(kC), db(kC);
  for (auto _ : state) {
    if (!TheOps().LayerNormForward(out.data(), mean.data(), rstd.data(), x.data(), w.data(),
                                   b.data(), kN, kC) ||
        !TheOps().LayerNormBackward(dx.data(), dw.data(), db.data(), d.data(), x.data(), w.data(),
                                    mean.data(), rstd.data(), kN, kC))
      state.SkipWithError("layernorm failed");
  }
  SetBytes(state, 6.0 * kN * kC * sizeof(float));
}
BENCHMARK(BM_LayerNormForwardBackward)->Unit(benchmark::kMicrosecond)->UseRealTime();

// Fused softmax + cross-entropy over the padded vocabulary: reads and rewrites the logits.
void BM_SoftmaxCrossEntropy(benchmark::State& state) {
  const auto logits = RandomVec(size_t{kN} * kVp, 10, -5, 5);
  const auto targets = RandomTokens(kN, kV, 11);
  std::vector<float> work(logits.size()), losses(kN);
  for (auto _ : state) {
    state.PauseTiming();
    work = logits;
    state.ResumeTiming();
    if (!TheOps().SoftmaxCrossEntropy(work.data(), losses.data(), nullptr, targets.data(), kN, kV,
                                      kVp, 1.0f / kN, true))
      state.SkipWithError("softmax xent failed");
  }
  SetBytes(state, 2.0 * kN * kVp * sizeof(float));
}
BENCHMARK(BM_SoftmaxCrossEntropy)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_GeluForwardBackward(benchmark::State& state) {
  const size_t n = size_t{kN} * 4 * kC;
  const auto x = RandomVec(n, 12), d = RandomVec(n, 13);
  std::vector<float> out(n), dx(n);
  for (auto _ : state) {
    if (!TheOps().GeluForward(out.data(), x.data(), n) ||
        !TheOps().GeluBackward(dx.data(), x.data(), d.data(), n))
      state.SkipWithError("gelu failed");
  }
  SetBytes(state, 5.0 * n * sizeof(float));
}
BENCHMARK(BM_GeluForwardBackward)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace plume::kernels

BENCHMARK_MAIN();
