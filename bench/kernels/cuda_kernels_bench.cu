// CUDA kernel benchmarks: the project's matmul against cuBLAS (the baseline, never the
// implementation) and the flash-attention forward/backward throughput.
//
//   cuda_kernels_bench                       all benchmarks, then the matmul ratio
//   cuda_kernels_bench --benchmark_filter=Matmul
//
// Napkin math: an M=N=K=4096 matmul is 2*4096^3 = 137 GFLOP. Causal attention at B=4, T=1024,
// C=768 does about 2*B*T^2*C = 6.4 GFLOP forward (QK^T and PV, half the square each) and 2.5x
// that backward (five products). Results go to bench/RESULTS.md with the card and the date.
// Without a device every benchmark reports "no CUDA device" and is skipped.
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "plume/kernels/ops.h"

namespace {

using plume::kernels::Buffer;
using plume::kernels::Ops;

std::map<std::string, double> g_flops_per_iter;  // for the ratio line main prints

std::unique_ptr<Ops> GpuOrSkip(benchmark::State& state) {
  if (plume::kernels::CudaDeviceCount() == 0) {
    state.SkipWithError("no CUDA device: skipped");
    return nullptr;
  }
  auto ops = plume::kernels::MakeCudaOps(0);
  if (!ops) {
    state.SkipWithError(ops.error().message.c_str());
    return nullptr;
  }
  return std::move(*ops);
}

std::unique_ptr<Buffer> RandomBuffer(Ops& ops, size_t n, uint64_t seed, float scale) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> host(n);
  for (float& x : host) x = dist(rng);
  auto buf = ops.Alloc(n * sizeof(float));
  if (!buf || !ops.CopyToDevice((*buf)->data(), host.data(), n * sizeof(float))) return nullptr;
  return std::move(*buf);
}

// Adds the achieved TFLOP/s to the report and remembers the work per iteration for main.
void Report(benchmark::State& state, const std::string& name, double flops_per_iter) {
  state.counters["TFLOP/s"] = benchmark::Counter(flops_per_iter * 1e-12 * state.iterations(),
                                                 benchmark::Counter::kIsRate);
  g_flops_per_iter[name] = flops_per_iter;
}

// out (N,OC) = inp (N,C) @ weight (OC,C)^T with the project's WMMA TF32 kernel.
void BM_MatmulPlume(benchmark::State& state) {
  auto ops = GpuOrSkip(state);
  if (!ops) return;
  const int n = static_cast<int>(state.range(0));
  const size_t nn = static_cast<size_t>(n) * n;
  auto a = RandomBuffer(*ops, nn, 1, 1.0f);
  auto w = RandomBuffer(*ops, nn, 2, 1.0f);
  auto out = ops->Alloc(nn * sizeof(float));
  if (!a || !w || !out) return state.SkipWithError("device allocation failed");
  auto run = [&] { return ops->MatmulForward((*out)->f32(), a->f32(), w->f32(), nullptr, n, n, n); };
  if (!run() || !ops->Synchronize()) return state.SkipWithError("matmul failed");  // warm-up
  for (auto _ : state) {
    if (!run() || !ops->Synchronize()) return state.SkipWithError("matmul failed");
  }
  Report(state, "MatmulPlume", 2.0 * n * n * n);
}

// The same product through cuBLAS with TF32 tensor cores, FP32 accumulate. cuBLAS is
// column-major: out^T (OC,N) = W (OC,C) . inp^T, i.e. op(A)=T on W stored (C,OC), op(B)=N on
// inp stored (C,N).
void BM_MatmulCublasTf32(benchmark::State& state) {
  auto ops = GpuOrSkip(state);
  if (!ops) return;
  const int n = static_cast<int>(state.range(0));
  const size_t nn = static_cast<size_t>(n) * n;
  auto a = RandomBuffer(*ops, nn, 1, 1.0f);
  auto w = RandomBuffer(*ops, nn, 2, 1.0f);
  auto out = ops->Alloc(nn * sizeof(float));
  if (!a || !w || !out) return state.SkipWithError("device allocation failed");
  cublasHandle_t handle = nullptr;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) return state.SkipWithError("cublasCreate failed");
  const float alpha = 1.0f, beta = 0.0f;
  auto run = [&] {
    return cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, w->f32(), CUDA_R_32F, n,
                        a->f32(), CUDA_R_32F, n, &beta, (*out)->f32(), CUDA_R_32F, n,
                        CUBLAS_COMPUTE_32F_FAST_TF32, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS;
  };
  bool ok = run() && cudaDeviceSynchronize() == cudaSuccess;
  for (auto _ : state) {
    if (!ok) break;
    ok = run() && cudaDeviceSynchronize() == cudaSuccess;
  }
  cublasDestroy(handle);
  if (!ok) return state.SkipWithError("cublasGemmEx failed");
  Report(state, "MatmulCublasTf32", 2.0 * n * n * n);
}

// The BF16 baseline the matmul goal is stated against: bf16 operands, fp32 accumulation.
void BM_MatmulCublasBf16(benchmark::State& state) {
  auto ops = GpuOrSkip(state);
  if (!ops) return;
  const int n = static_cast<int>(state.range(0));
  const size_t nn = static_cast<size_t>(n) * n;
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<__nv_bfloat16> host(nn);
  for (auto& x : host) x = __float2bfloat16(dist(rng));
  __nv_bfloat16 *a = nullptr, *w = nullptr, *out = nullptr;
  if (cudaMalloc(&a, nn * 2) != cudaSuccess || cudaMalloc(&w, nn * 2) != cudaSuccess ||
      cudaMalloc(&out, nn * 2) != cudaSuccess) {
    return state.SkipWithError("device allocation failed");
  }
  cudaMemcpy(a, host.data(), nn * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(w, host.data(), nn * 2, cudaMemcpyHostToDevice);
  cublasHandle_t handle = nullptr;
  if (cublasCreate(&handle) != CUBLAS_STATUS_SUCCESS) return state.SkipWithError("cublasCreate failed");
  const float alpha = 1.0f, beta = 0.0f;
  auto run = [&] {
    return cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, n, n, n, &alpha, w, CUDA_R_16BF, n, a,
                        CUDA_R_16BF, n, &beta, out, CUDA_R_16BF, n, CUBLAS_COMPUTE_32F,
                        CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS;
  };
  bool ok = run() && cudaDeviceSynchronize() == cudaSuccess;
  for (auto _ : state) {
    if (!ok) break;
    ok = run() && cudaDeviceSynchronize() == cudaSuccess;
  }
  cublasDestroy(handle);
  cudaFree(a);
  cudaFree(w);
  cudaFree(out);
  if (!ok) return state.SkipWithError("cublasGemmEx (bf16) failed");
  Report(state, "MatmulCublasBf16", 2.0 * n * n * n);
}

struct AttnShape {
  int B = 4, T = 1024, C = 768, NH = 12;
};

void BM_AttentionForward(benchmark::State& state) {
  auto ops = GpuOrSkip(state);
  if (!ops) return;
  AttnShape s;
  const size_t bt = static_cast<size_t>(s.B) * s.T;
  auto qkv = RandomBuffer(*ops, bt * 3 * s.C, 3, 1.0f);
  auto out = ops->Alloc(bt * s.C * sizeof(float));
  auto lse = ops->Alloc(static_cast<size_t>(s.B) * s.NH * s.T * sizeof(float));
  if (!qkv || !out || !lse) return state.SkipWithError("device allocation failed");
  auto run = [&] {
    return ops->AttentionForward((*out)->f32(), (*lse)->f32(), qkv->f32(), s.B, s.T, s.C, s.NH);
  };
  if (!run() || !ops->Synchronize()) return state.SkipWithError("attention forward failed");
  for (auto _ : state) {
    if (!run() || !ops->Synchronize()) return state.SkipWithError("attention forward failed");
  }
  Report(state, "AttentionForward", 2.0 * s.B * static_cast<double>(s.T) * s.T * s.C);
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(bt) * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_AttentionBackward(benchmark::State& state) {
  auto ops = GpuOrSkip(state);
  if (!ops) return;
  AttnShape s;
  const size_t bt = static_cast<size_t>(s.B) * s.T;
  auto qkv = RandomBuffer(*ops, bt * 3 * s.C, 3, 1.0f);
  auto dout = RandomBuffer(*ops, bt * s.C, 4, 1.0f);
  auto out = ops->Alloc(bt * s.C * sizeof(float));
  auto lse = ops->Alloc(static_cast<size_t>(s.B) * s.NH * s.T * sizeof(float));
  auto dqkv = ops->Alloc(bt * 3 * s.C * sizeof(float));
  if (!qkv || !dout || !out || !lse || !dqkv) return state.SkipWithError("device allocation failed");
  if (!ops->AttentionForward((*out)->f32(), (*lse)->f32(), qkv->f32(), s.B, s.T, s.C, s.NH)) {
    return state.SkipWithError("attention forward failed");
  }
  auto run = [&] {
    return ops->AttentionBackward((*dqkv)->f32(), dout->f32(), qkv->f32(), (*out)->f32(),
                                  (*lse)->f32(), s.B, s.T, s.C, s.NH);
  };
  if (!run() || !ops->Synchronize()) return state.SkipWithError("attention backward failed");
  for (auto _ : state) {
    if (!run() || !ops->Synchronize()) return state.SkipWithError("attention backward failed");
  }
  Report(state, "AttentionBackward", 5.0 * s.B * static_cast<double>(s.T) * s.T * s.C);
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(bt) * state.iterations(), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_MatmulPlume)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulCublasTf32)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulCublasBf16)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AttentionForward)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AttentionBackward)->Unit(benchmark::kMillisecond)->UseRealTime();

// Collects each run's real time per iteration so main can print the matmul ratio.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred || run.iterations == 0) continue;
      seconds_[run.run_name.function_name] = run.real_accumulated_time / run.iterations;
    }
    ConsoleReporter::ReportRuns(runs);
  }
  double Seconds(const std::string& name) const {
    auto it = seconds_.find(name);
    return it == seconds_.end() ? 0.0 : it->second;
  }

 private:
  std::map<std::string, double> seconds_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  const double plume = reporter.Seconds("BM_MatmulPlume");
  const double cublas = reporter.Seconds("BM_MatmulCublasTf32");
  const double bf16 = reporter.Seconds("BM_MatmulCublasBf16");
  if (plume > 0.0 && cublas > 0.0) {
    const double flops = g_flops_per_iter["MatmulPlume"];
    std::printf("matmul 4096^3: plume %.1f TFLOP/s, cuBLAS TF32 %.1f TFLOP/s, ratio %.2f\n",
                flops / plume * 1e-12, flops / cublas * 1e-12, cublas / plume);
    if (bf16 > 0.0) {
      std::printf("matmul 4096^3: cuBLAS BF16 %.1f TFLOP/s; plume / cuBLAS BF16 = %.2f "
                  "(goal >= 0.7)\n", flops / bf16 * 1e-12, bf16 / plume);
    }
  } else {
    std::printf("matmul ratio: not measured (no CUDA device, or a run failed)\n");
  }
  benchmark::Shutdown();
  return 0;
}
