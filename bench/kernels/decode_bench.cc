// Inference benchmark on the CPU backend, GPT-2 124M shape (12 layers, 12 heads, width 768,
// vocabulary 50257, context 1024, random weights), a plain main printing the figures of issue
// 13's "done when", all measured in one run on the same threads:
//   - memory bandwidth: a parallel memcpy of 1 GiB (STREAM's convention counts the bytes read
//     and the bytes written, 2x the bytes copied) and a parallel read-only sum;
//   - batch-1 decode tokens/s against the bandwidth limit: the weight bytes one decode step
//     reads (every matrix, bias and gain, and the lm head over the real vocabulary; one wpe
//     row), divided by the copy bandwidth, is the most tokens/s a memory-bound decode can reach;
//   - batch-16 decode throughput against batch 1 (16 sequences, one Decode step each);
//   - prefill of 64 and 512 tokens in FLOP/s (flops.h GenerationFlops of one new token)
//     against a 2048^3 OpenBLAS sgemm on the same threads;
//   - 256 new tokens from a 64-token prompt, Generate (KV cache) against GenerateWithoutCache
//     (every token recomputes its window: the path before the cache), greedy, same tokens;
//   - where a decode step's time goes: the step's matmuls alone (MatmulForwardRows over a
//     model's worth of weight matrices in the step's order, each read from memory once), at 1
//     and 16 rows, against the time 16 rows' FLOPs take at the sgemm rate; the rest of the step
//     (attention over the cache, norms, GELU, residuals) is the step's time minus its matmuls.
//
// With --device N the same figures come from CUDA device N (scripts/gpu-check.sh runs it): the
// bandwidth is a device-memory pass (ResidualForward over 3 x 256 MiB: two reads and a write)
// and the arithmetic reference is our own matmul at 4096^3 instead of OpenBLAS.
//
// Usage: decode_bench [--threads N] [--device N] [--decode-steps N] [--no-reference]
// Run with OMP_WAIT_POLICY=passive on a shared machine (see kernels/cpu/cpu_ops.cc).
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "plume/kernels/flops.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/rng.h"
#include "plume/kernels/runner.h"

namespace k = plume::kernels;

namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "decode_bench: %s failed\n", what);
    std::exit(1);
  }
}

// Best of `reps`: the figure least disturbed by the machine's other work.
template <class F>
double BestSeconds(int reps, F&& run) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    run();
    best = std::min(best, Seconds(t0));
  }
  return best;
}

struct Bandwidth {
  double copy_stream = 0;  // (read + written) bytes/s of a memcpy
  double read = 0;         // bytes/s of a read-only pass
};

Bandwidth MeasureBandwidth(int threads) {
  const size_t n = size_t{1} << 28;  // 1 GiB of floats
  std::vector<float> src(n, 1.0f), dst(n, 0.0f);
  const int chunks = 256;
  const size_t per = n / chunks;
  const double copy = BestSeconds(5, [&] {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int c = 0; c < chunks; ++c) {
      std::memcpy(dst.data() + c * per, src.data() + c * per, per * sizeof(float));
    }
  });
  float sink = 0;
  const double read = BestSeconds(5, [&] {
    float total = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : total)
    for (int c = 0; c < chunks; ++c) {
      __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
      const float* p = src.data() + c * per;
      for (size_t i = 0; i < per; i += 16) {
        a = _mm256_add_ps(a, _mm256_loadu_ps(p + i));
        b = _mm256_add_ps(b, _mm256_loadu_ps(p + i + 8));
      }
      float lanes[8];
      _mm256_storeu_ps(lanes, _mm256_add_ps(a, b));
      for (float x : lanes) total += x;
    }
    sink += total;
  });
  if (sink < 0) std::printf("%f\n", sink);  // keeps the sum alive
  const double bytes = double(n) * sizeof(float);
  return Bandwidth{2 * bytes / copy, bytes / read};
}

// `floats` floats on the Ops' device, or the benchmark stops.
std::unique_ptr<k::Buffer> AllocFloats(k::Ops& ops, size_t floats) {
  auto b = ops.Alloc(floats * sizeof(float));
  Check(bool(b), "Alloc");
  return std::move(*b);
}

// Device memory bandwidth through the Ops: out = a + b streams two reads and a write per float.
Bandwidth DeviceBandwidth(k::Ops& ops) {
  const size_t n = size_t{1} << 26;  // 256 MiB of floats per buffer
  const auto a = AllocFloats(ops, n), b = AllocFloats(ops, n), out = AllocFloats(ops, n);
  const auto pass = [&] {
    Check(bool(ops.ResidualForward(static_cast<float*>(out->data()),
                                   static_cast<const float*>(a->data()),
                                   static_cast<const float*>(b->data()), n)),
          "ResidualForward");
    Check(bool(ops.Synchronize()), "Synchronize");
  };
  pass();
  return Bandwidth{3.0 * double(n) * sizeof(float) / BestSeconds(5, pass), 0};
}

// Our own matmul's FLOP/s at n^3 on a device (the arithmetic a prefill can hope for there).
double DeviceMatmulFlops(k::Ops& ops, int n) {
  const size_t floats = size_t(n) * n;
  std::vector<float> host(floats, 0.25f);
  const auto a = AllocFloats(ops, floats), w = AllocFloats(ops, floats),
             c = AllocFloats(ops, floats);
  Check(bool(ops.CopyToDevice(a->data(), host.data(), floats * sizeof(float))), "CopyToDevice");
  Check(bool(ops.CopyToDevice(w->data(), host.data(), floats * sizeof(float))), "CopyToDevice");
  const auto run = [&] {
    Check(bool(ops.MatmulForward(static_cast<float*>(c->data()),
                                 static_cast<const float*>(a->data()),
                                 static_cast<const float*>(w->data()), nullptr, n, n, n)),
          "MatmulForward");
    Check(bool(ops.Synchronize()), "Synchronize");
  };
  run();
  return 2.0 * n * n * double(n) / BestSeconds(3, run);
}

double SgemmFlops(int n, int threads) {
  openblas_set_num_threads(threads);
  std::vector<float> a(size_t(n) * n, 0.5f), b(size_t(n) * n, 0.25f), c(size_t(n) * n);
  const auto run = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
  };
  run();
  const double sec = BestSeconds(3, run);
  openblas_set_num_threads(1);
  return 2.0 * n * n * double(n) / sec;
}

// Token ids as they are: bytes encode to 0..255, any id decodes to one byte. Stands in for the
// GPT-2 BPE (not in this build) so a 50257-token model can run through Generate.
class IdTokenizer final : public k::Tokenizer {
 public:
  explicit IdTokenizer(int vocab) : vocab_(vocab) {}
  std::string_view name() const override { return "ids"; }
  int32_t vocab_size() const override { return vocab_; }
  std::vector<int32_t> Encode(std::string_view text) const override { return k::EncodeBytes(text); }
  k::Result<std::string> Decode(std::span<const int32_t> tokens) const override {
    std::string s;
    for (int32_t t : tokens) s += static_cast<char>(t & 0x7f);
    return s;
  }
  std::optional<int32_t> end_of_text() const override { return std::nullopt; }
  size_t token_bytes_max() const override { return 1; }

 private:
  int vocab_;
};

// Seconds of one decode step's matmuls at `rows` rows: per layer qkv (C -> 3C), attention
// projection (C -> C), fc (C -> 4C), fc projection (4C -> C), then the lm head (C -> V), over
// their own buffers (the same bytes as the model's), best of 5 after a warm-up.
struct StepMatmuls {
  explicit StepMatmuls(k::Ops& ops, const k::ModelConfig& m) : ops_(ops), m_(m) {
    const long C = m.n_embd;
    for (int l = 0; l < m.n_layer; ++l) {
      for (long oc : {3 * C, C, 4 * C}) shapes_.push_back({int(C), int(oc)});
      shapes_.push_back({int(4 * C), int(C)});
    }
    shapes_.push_back({int(C), m.vocab});
    for (const auto& [c, oc] : shapes_) {
      weights_.push_back(AllocFloats(ops_, size_t(c) * oc));
      weight_floats_ += double(c) * oc;
    }
    in_ = AllocFloats(ops_, size_t(16) * 4 * C);
    out_ = AllocFloats(ops_, size_t(16) * m.vocab);
    bias_ = AllocFloats(ops_, size_t(m.vocab));
    k::SplitMix64 rng(3);
    std::vector<float> host;
    for (size_t w = 0; w < weights_.size(); ++w) {
      host.resize(size_t(shapes_[w].first) * shapes_[w].second);
      for (float& f : host) f = float(rng.Below(2001)) * 1e-3f - 1.0f;
      Check(bool(ops_.CopyToDevice(weights_[w]->data(), host.data(), host.size() * sizeof(float))),
            "CopyToDevice");
    }
  }
  double Seconds(int rows) {
    const auto step = [&] {
      for (size_t i = 0; i < shapes_.size(); ++i) {
        const auto [c, oc] = shapes_[i];
        Check(bool(ops_.MatmulForwardRows(static_cast<float*>(out_->data()),
                                          static_cast<const float*>(in_->data()),
                                          static_cast<const float*>(weights_[i]->data()),
                                          static_cast<const float*>(bias_->data()), rows, c, oc)),
              "MatmulForwardRows");
      }
      Check(bool(ops_.Synchronize()), "Synchronize");
    };
    step();
    return BestSeconds(5, step);
  }
  double weight_floats() const { return weight_floats_; }

 private:
  k::Ops& ops_;
  k::ModelConfig m_;
  std::vector<std::pair<int, int>> shapes_;
  std::vector<std::unique_ptr<k::Buffer>> weights_;
  std::unique_ptr<k::Buffer> in_, out_, bias_;
  double weight_floats_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  int threads = omp_get_max_threads(), decode_steps = 32, device = -1;
  bool reference = true;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--threads" && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (flag == "--decode-steps" && i + 1 < argc) decode_steps = std::atoi(argv[++i]);
    else if (flag == "--device" && i + 1 < argc) device = std::atoi(argv[++i]);
    else if (flag == "--no-reference") reference = false;
    else {
      std::fprintf(stderr, "usage: decode_bench [--threads N] [--device N] [--decode-steps N] "
                           "[--no-reference]\n");
      return 2;
    }
  }
  const k::ModelConfig gpt2{12, 12, 768, 1024, 50257};
  std::unique_ptr<k::Ops> ops;
  if (device < 0) {
    ops = k::MakeCpuOps(threads);
    std::printf("GPT-2 124M shape, random weights, CPU backend, %d threads\n", threads);
  } else {
    auto cuda = k::MakeCudaOps(device);
    if (!cuda) {
      std::fprintf(stderr, "decode_bench: CUDA device %d: %s\n", device,
                   cuda.error().message.c_str());
      return 1;
    }
    ops = std::move(*cuda);
    std::printf("GPT-2 124M shape, random weights, CUDA device %d (%s)\n", device,
                ops->DeviceName().c_str());
  }
  const auto measure_bandwidth = [&] {
    return device < 0 ? MeasureBandwidth(threads) : DeviceBandwidth(*ops);
  };
  const Bandwidth bw = measure_bandwidth();
  // The arithmetic reference ("sgemm" in the ratios below): OpenBLAS on the CPU, our own matmul
  // on a device.
  const double sgemm = device < 0 ? SgemmFlops(2048, threads) : DeviceMatmulFlops(*ops, 4096);
  // Bytes one decode step reads: all real parameters but the position table, plus its one row.
  const double weight_bytes =
      4.0 * double(gpt2.NumRealParams() - int64_t{gpt2.context} * gpt2.n_embd + gpt2.n_embd);
  std::printf("%-32s %8.2f GB/s\n",
              device < 0 ? "memcpy bandwidth (read + write)" : "device bandwidth (read + write)",
              bw.copy_stream / 1e9);
  if (device < 0) std::printf("read-only bandwidth              %8.2f GB/s\n", bw.read / 1e9);
  std::printf("%-32s %8.1f GFLOP/s\n",
              device < 0 ? "OpenBLAS sgemm 2048^3" : "sgemm = our matmul 4096^3", sgemm / 1e9);
  std::printf("weight bytes read per decode step %7.1f MB\n", weight_bytes / 1e6);

  auto init = k::InitialParams(gpt2, 1);
  Check(bool(init), "InitialParams");
  auto model = k::Gpt::CreateForInference(gpt2, *ops);
  Check(bool(model) && (*model)->SetParams(*init), "model");
  k::Gpt& gpt = **model;
  k::SplitMix64 rng(7);
  const auto random_tokens = [&](int n) {
    std::vector<int32_t> t(n);
    for (auto& x : t) x = static_cast<int32_t>(rng.Below(gpt2.vocab));
    return t;
  };

  // Prefill rates.
  Check(bool(gpt.ReserveKvCache(16, 512 + decode_steps)), "ReserveKvCache");
  double prefill_rate[2] = {0, 0};
  const int prefill_len[2] = {64, 512};
  for (int i = 0; i < 2; ++i) {
    const auto prompt = random_tokens(prefill_len[i]);
    Check(bool(gpt.Prefill(0, prompt)), "warm-up prefill");
    const double sec = BestSeconds(3, [&] {
      Check(bool(gpt.Prefill(0, prompt)) && bool(ops->Synchronize()), "prefill");
    });
    prefill_rate[i] = double(k::GenerationFlops(gpt2, prefill_len[i], 1)) / sec;
  }

  // Decode at batch 1 and 16: 16 prompts of 64 tokens, then steps of one token per sequence;
  // the best of 3 runs of decode_steps steps (as the bandwidth is the best of 5), with the
  // bandwidth measured again right after batch 1 so that the ratio compares neighbours.
  std::vector<int32_t> slots(16);
  std::iota(slots.begin(), slots.end(), 0);
  double tokens_per_s[2] = {0, 0};
  const int batch[2] = {1, 16};
  Bandwidth after{};
  for (int b = 0; b < 2; ++b) {
    const std::span<const int32_t> rows(slots.data(), batch[b]);
    for (int run = 0; run < 3; ++run) {
      for (int s = 0; s < batch[b]; ++s) Check(bool(gpt.Prefill(s, random_tokens(64))), "prefill");
      Check(bool(gpt.Decode(rows, random_tokens(batch[b]))), "warm-up decode");
      const auto t0 = std::chrono::steady_clock::now();
      for (int step = 0; step < decode_steps; ++step) {
        Check(bool(gpt.Decode(rows, random_tokens(batch[b]))), "decode");
      }
      tokens_per_s[b] = std::max(tokens_per_s[b], double(batch[b]) * decode_steps / Seconds(t0));
    }
    if (b == 0) after = measure_bandwidth();
  }
  std::printf("bandwidth after batch 1          %8.2f GB/s (read-only %.2f GB/s)\n",
              after.copy_stream / 1e9, after.read / 1e9);
  const double copy_bw = (bw.copy_stream + after.copy_stream) / 2;
  const double read_bw = (bw.read + after.read) / 2;
  const double limit = copy_bw / weight_bytes;
  std::printf("\n%-44s %10s %10s\n", "measure", "value", "ratio");
  std::printf("%-44s %10.2f\n", "limit, tokens/s (weights / mean bandwidth)", limit);
  std::printf("%-44s %10.2f %10.2f  (of the limit)\n", "batch-1 decode, tokens/s", tokens_per_s[0],
              tokens_per_s[0] / limit);
  if (read_bw > 0) {
    std::printf("%-44s %10.2f %10.2f  (of the read-only limit)\n", "read-only limit, tokens/s",
                read_bw / weight_bytes, tokens_per_s[0] / (read_bw / weight_bytes));
  }
  std::printf("%-44s %10.2f %10.2f  (x batch 1)\n", "batch-16 decode, tokens/s", tokens_per_s[1],
              tokens_per_s[1] / tokens_per_s[0]);
  std::printf("%-44s %10.1f %10.2f  (of sgemm)\n", "prefill 64 tokens, GFLOP/s",
              prefill_rate[0] / 1e9, prefill_rate[0] / sgemm);
  std::printf("%-44s %10.1f %10.2f  (of sgemm)\n", "prefill 512 tokens, GFLOP/s",
              prefill_rate[1] / 1e9, prefill_rate[1] / sgemm);
  model->reset();

  // Where the step's time goes. If the matmuls at 16 rows took as long as streaming the
  // weights (batch 1) or as computing them (16 rows at the sgemm rate), whichever is longer,
  // memory and arithmetic would overlap; their sum means they take turns.
  {
    StepMatmuls mm(*ops, gpt2);
    const double mm1 = mm.Seconds(1), mm16 = mm.Seconds(16);
    const double compute16 = 2.0 * 16 * mm.weight_floats() / sgemm;
    const double step1 = 1.0 / tokens_per_s[0], step16 = 16.0 / tokens_per_s[1];
    std::printf("%-44s %10.2f %10.2f  (of the step)\n", "batch-1 step matmuls, ms", mm1 * 1e3,
                mm1 / step1);
    std::printf("%-44s %10.2f %10.2f  (of the step)\n", "batch-16 step matmuls, ms", mm16 * 1e3,
                mm16 / step16);
    std::printf("%-44s %10.2f\n", "16 rows' matmul FLOPs at the sgemm rate, ms", compute16 * 1e3);
    std::printf("%-44s %10.2f %10.2f  (batch-16 matmuls / it)\n",
                "batch-1 matmuls + that, ms", (mm1 + compute16) * 1e3, mm16 / (mm1 + compute16));
    std::printf("%-44s %10.2f\n", "batch-16 step minus its matmuls, ms", (step16 - mm16) * 1e3);
    std::printf("%-44s %10.2f\n", "matmuls alone, 16 x batch-1 time / batch-16 time",
                16 * mm1 / mm16);
  }

  // 256 new tokens from a 64-token prompt, end to end (sampling and all), greedy.
  const IdTokenizer ids(gpt2.vocab);
  std::string prompt;
  for (int i = 0; i < 64; ++i) prompt += static_cast<char>('a' + rng.Below(26));
  k::GenerateConfig g;
  g.temperature = 0.0f;
  g.max_new_tokens = 256;
  auto t0 = std::chrono::steady_clock::now();
  const auto cached = k::Generate(gpt2, *init, {prompt}, g, *ops, ids);
  const double cached_s = Seconds(t0);
  Check(bool(cached), "Generate");
  std::printf("%-44s %10.2f\n", "256 from 64, KV cache, seconds", cached_s);
  if (reference) {
    t0 = std::chrono::steady_clock::now();
    const auto plain = k::GenerateWithoutCache(gpt2, *init, {prompt}, g, *ops, ids);
    const double plain_s = Seconds(t0);
    Check(bool(plain), "GenerateWithoutCache");
    std::printf("%-44s %10.2f %10.2f  (speed-up)\n", "256 from 64, no cache, seconds", plain_s,
                plain_s / cached_s);
    std::printf("same tokens: %s\n",
                (*plain)[0].completion == (*cached)[0].completion ? "yes" : "NO");
  }
  return 0;
}
