// CUDA kernel benchmarks: the project's matmuls (TF32, pipelined TF32, BF16; chosen explicitly,
// whatever PLUME_CUDA_MATMUL says) against cuBLAS (the baseline, never the implementation), and
// the attention forward (fp32 and BF16 tensor cores) and backward throughput.
//
//   cuda_kernels_bench                       all benchmarks, then the ratios
//   cuda_kernels_bench --benchmark_filter=Matmul
//
// Baselines: cuBLAS TF32 (fp32 in/out, TF32 tensor cores); cuBLAS BF16 (bf16 in/out: the goal's
// "0.7 x cuBLAS BF16" is stated against it, though it moves half the bytes ours does); cuBLAS
// FAST_16BF (fp32 in/out, operands rounded to BF16 inside cuBLAS: the same contract as our BF16
// matmul, whose time includes converting both operands).
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

#include "cuda_kernel_choice.h"
#include "plume/kernels/ops.h"

namespace {

using plume::kernels::Buffer;
using plume::kernels::CudaAttentionKernel;
using plume::kernels::CudaKernelChoice;
using plume::kernels::CudaMatmulKernel;
using plume::kernels::Ops;

std::map<std::string, double> g_flops_per_iter;  // for the ratio line main prints

std::unique_ptr<Ops> GpuOrSkip(benchmark::State& state, const CudaKernelChoice& choice = {}) {
  if (plume::kernels::CudaDeviceCount() == 0) {
    state.SkipWithError("no CUDA device: skipped");
    return nullptr;
  }
  auto ops = plume::kernels::MakeCudaOpsWith(0, choice);
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

// out (N,OC) = inp (N,C) @ weight (OC,C)^T with one of the project's matmul kernels.
void MatmulPlume(benchmark::State& state, CudaMatmulKernel kernel, const std::string& name) {
  CudaKernelChoice choice;
  choice.matmul = kernel;
  auto ops = GpuOrSkip(state, choice);
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
  Report(state, name, 2.0 * n * n * n);
}
void BM_MatmulPlume(benchmark::State& state) {
  MatmulPlume(state, CudaMatmulKernel::kTf32, "MatmulPlume");
}
void BM_MatmulPlumePipelined(benchmark::State& state) {
  MatmulPlume(state, CudaMatmulKernel::kPipelinedTf32, "MatmulPlumePipelined");
}
void BM_MatmulPlumeBf16(benchmark::State& state) {
  MatmulPlume(state, CudaMatmulKernel::kBf16, "MatmulPlumeBf16");
}

// The same product through cuBLAS with TF32 tensor cores, FP32 accumulate. cuBLAS is
// column-major: out^T (OC,N) = W (OC,C) . inp^T, i.e. op(A)=T on W stored (C,OC), op(B)=N on
// inp stored (C,N).
void MatmulCublasFp32(benchmark::State& state, cublasComputeType_t compute,
                      const std::string& name) {
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
                        compute, CUBLAS_GEMM_DEFAULT) == CUBLAS_STATUS_SUCCESS;
  };
  bool ok = run() && cudaDeviceSynchronize() == cudaSuccess;
  for (auto _ : state) {
    if (!ok) break;
    ok = run() && cudaDeviceSynchronize() == cudaSuccess;
  }
  cublasDestroy(handle);
  if (!ok) return state.SkipWithError("cublasGemmEx failed");
  Report(state, name, 2.0 * n * n * n);
}
void BM_MatmulCublasTf32(benchmark::State& state) {
  MatmulCublasFp32(state, CUBLAS_COMPUTE_32F_FAST_TF32, "MatmulCublasTf32");
}
void BM_MatmulCublasFast16bf(benchmark::State& state) {
  MatmulCublasFp32(state, CUBLAS_COMPUTE_32F_FAST_16BF, "MatmulCublasFast16bf");
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

void AttentionForward(benchmark::State& state, CudaAttentionKernel kernel,
                      const std::string& name) {
  CudaKernelChoice choice;
  choice.attention = kernel;
  auto ops = GpuOrSkip(state, choice);
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
  Report(state, name, 2.0 * s.B * static_cast<double>(s.T) * s.T * s.C);
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(bt) * state.iterations(), benchmark::Counter::kIsRate);
}
void BM_AttentionForward(benchmark::State& state) {
  AttentionForward(state, CudaAttentionKernel::kFp32, "AttentionForward");
}
void BM_AttentionForwardBf16(benchmark::State& state) {
  AttentionForward(state, CudaAttentionKernel::kBf16, "AttentionForwardBf16");
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
BENCHMARK(BM_MatmulPlumePipelined)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulPlumeBf16)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulCublasTf32)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulCublasBf16)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MatmulCublasFast16bf)->Arg(4096)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AttentionForward)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_AttentionForwardBf16)->Unit(benchmark::kMillisecond)->UseRealTime();
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
  // TFLOP/s of each run that finished (0: not run or failed), then the ratios.
  const auto tflops = [&](const char* bm, const char* name) {
    const double sec = reporter.Seconds(bm);
    return sec > 0.0 ? g_flops_per_iter[name] / sec * 1e-12 : 0.0;
  };
  const double tf32 = tflops("BM_MatmulPlume", "MatmulPlume");
  const double pipelined = tflops("BM_MatmulPlumePipelined", "MatmulPlumePipelined");
  const double bf16 = tflops("BM_MatmulPlumeBf16", "MatmulPlumeBf16");
  const double cublas_tf32 = tflops("BM_MatmulCublasTf32", "MatmulCublasTf32");
  const double cublas_bf16 = tflops("BM_MatmulCublasBf16", "MatmulCublasBf16");
  const double cublas_fast = tflops("BM_MatmulCublasFast16bf", "MatmulCublasFast16bf");
  std::printf("matmul 4096^3 TFLOP/s: plume TF32 %.1f, pipelined TF32 %.1f, BF16 %.1f; cuBLAS "
              "TF32 %.1f, BF16 %.1f, FAST_16BF %.1f (0: not measured)\n",
              tf32, pipelined, bf16, cublas_tf32, cublas_bf16, cublas_fast);
  if (tf32 > 0.0 && cublas_tf32 > 0.0) {
    std::printf("matmul 4096^3: plume TF32 / cuBLAS TF32 = %.2f, pipelined / cuBLAS TF32 = %.2f\n",
                tf32 / cublas_tf32, pipelined / cublas_tf32);
  }
  if (bf16 > 0.0 && cublas_bf16 > 0.0) {
    std::printf("matmul 4096^3: plume BF16 / cuBLAS BF16 = %.2f (goal >= 0.7), / cuBLAS "
                "FAST_16BF = %.2f\n", bf16 / cublas_bf16, cublas_fast > 0 ? bf16 / cublas_fast : 0.0);
  }
  const double attn = reporter.Seconds("BM_AttentionForward");
  const double attn_bf16 = reporter.Seconds("BM_AttentionForwardBf16");
  if (attn > 0.0 && attn_bf16 > 0.0) {
    std::printf("attention forward B=4 T=1024 C=768: fp32 %.3f ms, BF16 tensor cores %.3f ms "
                "(speed-up %.2f)\n", attn * 1e3, attn_bf16 * 1e3, attn / attn_bf16);
  }
  if (tf32 == 0.0 && bf16 == 0.0) {
    std::printf("matmul ratio: not measured (no CUDA device, or a run failed)\n");
  }
  benchmark::Shutdown();
  return 0;
}
