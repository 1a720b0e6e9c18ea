// Training-step benchmark on the CPU backend (a plain main printing a table): ms per step,
// tokens/s, model FLOPs per step (flops.h), achieved FLOP/s, and in the same run the FLOP/s of
// a large OpenBLAS sgemm on the same number of threads; their ratio is the model FLOPs
// utilisation against what this CPU's BLAS can do. Also the peak RSS (getrusage).
//
//   (a) 4 layers, 4 heads, width 256, vocab 256, context 128, batch 8
//   (b) GPT-2 124M shape: 12 layers, 12 heads, width 768, vocab 50257 (padded to 50304),
//       context 64, batch 4
//
// Usage: train_step_bench [--threads N] [--steps-a N] [--steps-b N] [--only a|b]
// Run with OMP_WAIT_POLICY=passive on a shared machine (see kernels/cpu/cpu_ops.cc).
#include <sys/resource.h>

#include <cblas.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "plume/kernels/flops.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/rng.h"

namespace k = plume::kernels;

namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double PeakRssGiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss / double(1 << 20);  // ru_maxrss is in KiB on Linux
}

// FLOP/s of C = A B^T at n x n x n through OpenBLAS with `threads` threads.
double SgemmFlops(int n, int threads) {
  openblas_set_num_threads(threads);
  std::vector<float> a(size_t(n) * n, 0.5f), b(size_t(n) * n, 0.25f), c(size_t(n) * n);
  const auto run = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
  };
  run();  // warm-up
  const int reps = 5;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < reps; ++i) run();
  return 2.0 * n * n * double(n) * reps / Seconds(t0);
}

struct Row {
  std::string name;
  double ms_per_step = 0, tokens_per_s = 0, flops_per_step = 0, flops_per_s = 0, rss_gib = 0;
};

Row BenchConfig(const std::string& name, const k::ModelConfig& c, int B, int T, int steps,
                int threads) {
  auto ops = k::MakeCpuOps(threads);
  auto model = k::Gpt::Create(c, *ops);
  if (!model) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), model.error().message.c_str());
    std::exit(1);
  }
  (void)(*model)->InitRandom(1);
  k::SplitMix64 rng(2);
  std::vector<int32_t> x(size_t(B) * T), y(size_t(B) * T);
  for (auto& t : x) t = static_cast<int32_t>(rng.Below(c.vocab));
  for (auto& t : y) t = static_cast<int32_t>(rng.Below(c.vocab));
  const auto step = [&](int64_t i) {
    bool ok = (*model)->ZeroGrad() && (*model)->Forward(x, y, B, T) && (*model)->Backward();
    k::AdamWParams p;
    p.step = i;
    ok = ok && (*model)->Step(p, 1.0f);
    if (!ok) {
      std::fprintf(stderr, "%s: step failed\n", name.c_str());
      std::exit(1);
    }
  };
  step(1);  // warm-up: activation allocation, page faults, thread pools
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step(i + 2);
  const double sec = Seconds(t0) / steps;
  Row r;
  r.name = name;
  r.ms_per_step = sec * 1e3;
  r.tokens_per_s = B * T / sec;
  r.flops_per_step = double(k::TrainFlops(c, T, B, 1));
  r.flops_per_s = r.flops_per_step / sec;
  r.rss_gib = PeakRssGiB();
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = omp_get_max_threads(), steps_a = 10, steps_b = 3;
  std::string only;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads") threads = std::atoi(argv[i + 1]);
    else if (flag == "--steps-a") steps_a = std::atoi(argv[i + 1]);
    else if (flag == "--steps-b") steps_b = std::atoi(argv[i + 1]);
    else if (flag == "--only") only = argv[i + 1];
  }
  const double sgemm = SgemmFlops(2048, threads);
  std::printf("threads %d; OpenBLAS sgemm 2048^3: %.1f GFLOP/s\n\n", threads, sgemm / 1e9);
  std::printf("%-26s %10s %10s %14s %10s %8s %10s\n", "config", "ms/step", "tokens/s",
              "GFLOP/step", "GFLOP/s", "MFU", "peakRSS");
  std::vector<Row> rows;
  if (only.empty() || only == "a") {
    rows.push_back(BenchConfig("a: 4L 4H 256 ctx128 B8", k::ModelConfig{4, 4, 256, 128, 256}, 8,
                               128, steps_a, threads));
  }
  if (only.empty() || only == "b") {
    rows.push_back(BenchConfig("b: GPT-2 124M ctx64 B4", k::ModelConfig{12, 12, 768, 64, 50257},
                               4, 64, steps_b, threads));
  }
  for (const Row& r : rows) {
    std::printf("%-26s %10.1f %10.0f %14.2f %10.1f %8.2f %7.2f GiB\n", r.name.c_str(),
                r.ms_per_step, r.tokens_per_s, r.flops_per_step / 1e9, r.flops_per_s / 1e9,
                r.flops_per_s / sgemm, r.rss_gib);
  }
  return 0;
}
