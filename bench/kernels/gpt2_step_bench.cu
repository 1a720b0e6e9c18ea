// One GPT-2 124M training step (forward, backward, AdamW) on the CUDA backend, three times in
// the same run: with the project's own matmuls (the kernels PLUME_CUDA_MATMUL and
// PLUME_CUDA_ATTENTION select, cuda_kernel_choice.h), and with every matmul (forward and both
// backward products) replaced by cuBLAS GEMMs on the same stream, TF32 and then FAST_16BF (fp32
// in and out, operands rounded to BF16: the contract of PLUME_CUDA_MATMUL=bf16), everything
// else unchanged. The ratio of the step times is the cost of our matmul inside real training.
//
//   gpt2_step_bench [B] [T] [steps]          defaults 4 1024 5
//
// Napkin math: 6 * 124M params * B*T tokens = 3.0 TFLOP per step at B=4, T=1024, plus the
// attention's ~0.3 TFLOP. Prints "no CUDA device" and exits 0 where there is none.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cuda_kernel_choice.h"
#include "delegating_ops.h"
#include "launchers.h"
#include "plume/kernels/flops.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"

namespace {

using plume::kernels::DelegatingOps;
using plume::kernels::Ops;
using plume::kernels::Status;

__global__ void AddBiasKernel(float* out, const float* bias, int N, int OC) {
  const size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x;
  if (i < size_t(N) * OC) out[i] += bias[i % OC];
}

// dbias (OC) += column sums of dout (N, OC), one thread per column, rows in order.
__global__ void ColumnSumKernel(float* dbias, const float* dout, int N, int OC) {
  const int o = blockIdx.x * blockDim.x + threadIdx.x;
  if (o >= OC) return;
  float acc = dbias[o];
  for (int n = 0; n < N; ++n) acc += dout[size_t(n) * OC + o];
  dbias[o] = acc;
}

Status Cublas(cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return {};
  return plume::kernels::Fail(std::string(what) + " failed: cuBLAS status " + std::to_string(s));
}

// Row-major (N,C) x (OC,C)^T is, in cuBLAS's column-major terms, out^T (OC,N) = W^T' ... : the
// row-major buffers are read as their transposes, so no data moves.
class CublasMatmulOps final : public DelegatingOps {
 public:
  CublasMatmulOps(std::unique_ptr<Ops> cuda, cublasComputeType_t compute)
      : DelegatingOps(std::move(cuda)), compute_(compute) {
    stream_ = plume::kernels::cuda::StreamOf(inner());
    cublasCreate(&handle_);
    cublasSetStream(handle_, stream_);
  }
  ~CublasMatmulOps() override { cublasDestroy(handle_); }

  Status MatmulForward(float* out, const float* inp, const float* weight, const float* bias,
                       int N, int C, int OC) override {
    const float one = 1.0f, zero = 0.0f;
    auto s = Cublas(cublasGemmEx(handle_, CUBLAS_OP_T, CUBLAS_OP_N, OC, N, C, &one, weight,
                                 CUDA_R_32F, C, inp, CUDA_R_32F, C, &zero, out, CUDA_R_32F, OC,
                                 compute_, CUBLAS_GEMM_DEFAULT),
                    "forward gemm");
    if (!s || bias == nullptr) return s;
    const size_t total = size_t(N) * OC;
    AddBiasKernel<<<(total + 255) / 256, 256, 0, stream_>>>(out, bias, N, OC);
    return {};
  }
  Status MatmulBackward(float* dinp, float* dweight, float* dbias, const float* dout,
                        const float* inp, const float* weight, int N, int C, int OC) override {
    const float one = 1.0f;
    if (dinp != nullptr) {
      auto s = Cublas(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_N, C, N, OC, &one, weight,
                                   CUDA_R_32F, C, dout, CUDA_R_32F, OC, &one, dinp, CUDA_R_32F, C,
                                   compute_, CUBLAS_GEMM_DEFAULT),
                      "dinp gemm");
      if (!s) return s;
    }
    auto s = Cublas(cublasGemmEx(handle_, CUBLAS_OP_N, CUBLAS_OP_T, C, OC, N, &one, inp,
                                 CUDA_R_32F, C, dout, CUDA_R_32F, OC, &one, dweight, CUDA_R_32F,
                                 C, compute_, CUBLAS_GEMM_DEFAULT),
                    "dweight gemm");
    if (!s || dbias == nullptr) return s;
    ColumnSumKernel<<<(OC + 255) / 256, 256, 0, stream_>>>(dbias, dout, N, OC);
    return {};
  }

 private:
  cublasComputeType_t compute_;
  cudaStream_t stream_ = nullptr;
  cublasHandle_t handle_ = nullptr;
};

// Mean seconds per step over `steps` after one warm-up step; the last loss in *loss.
double TimeSteps(Ops& ops, const plume::kernels::ModelConfig& c, int B, int T, int steps,
                 float* loss) {
  auto model = plume::kernels::Gpt::Create(c, ops);
  if (!model || !(*model)->InitRandom(1)) return -1;
  std::mt19937_64 rng(2);
  std::vector<int32_t> x(size_t(B) * T), y(size_t(B) * T);
  for (auto& t : x) t = static_cast<int32_t>(rng() % c.vocab);
  for (auto& t : y) t = static_cast<int32_t>(rng() % c.vocab);
  const auto step = [&](int64_t t) -> bool {
    plume::kernels::AdamWParams p;
    p.step = t;
    if (!(*model)->ZeroGrad()) return false;
    auto l = (*model)->Forward(x, y, B, T);
    if (!l || !(*model)->Backward() || !(*model)->Step(p, 1.0f)) return false;
    *loss = *l;
    return true;
  };
  if (!step(1) || !ops.Synchronize()) return -1;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) {
    if (!step(i + 2)) return -1;
  }
  if (!ops.Synchronize()) return -1;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / steps;
}

}  // namespace

int main(int argc, char** argv) {
  const int B = argc > 1 ? std::atoi(argv[1]) : 4;
  const int T = argc > 2 ? std::atoi(argv[2]) : 1024;
  const int steps = argc > 3 ? std::atoi(argv[3]) : 5;
  if (plume::kernels::CudaDeviceCount() == 0) {
    std::printf("gpt2 124M step: no CUDA device\n");
    return 0;
  }
  const plume::kernels::ModelConfig c{12, 12, 768, 1024, 50257};
  const double flops = double(plume::kernels::TrainFlops(c, T, B, 1));
  auto choice = plume::kernels::CudaKernelChoiceFromEnv();
  if (!choice) {
    std::printf("gpt2 124M step: %s\n", choice.error().message.c_str());
    return 1;
  }
  std::string kernels = plume::kernels::CudaKernelChoiceToken(*choice);
  if (kernels.empty()) kernels = "default";
  const char* names[3] = {"plume", "cuBLAS TF32", "cuBLAS FAST_16BF"};
  double seconds[3] = {0, 0, 0};
  float loss[3] = {0, 0, 0};
  for (int variant = 0; variant < 3; ++variant) {
    auto cuda = plume::kernels::MakeCudaOps(0);
    if (!cuda) {
      std::printf("gpt2 124M step: %s\n", cuda.error().message.c_str());
      return 1;
    }
    std::unique_ptr<Ops> ops = std::move(*cuda);
    if (variant > 0) {
      ops = std::make_unique<CublasMatmulOps>(
          std::move(ops), variant == 1 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F_FAST_16BF);
    }
    seconds[variant] = TimeSteps(*ops, c, B, T, steps, &loss[variant]);
    if (seconds[variant] <= 0) {
      std::printf("gpt2 124M step: the %s run failed\n", names[variant]);
      return 1;
    }
    std::printf("gpt2 124M step B=%d T=%d, %s matmuls (kernels: %s): %.1f ms/step, %.1f TFLOP/s "
                "(model FLOPs), loss after %d steps %.4f\n",
                B, T, names[variant], kernels.c_str(), seconds[variant] * 1e3,
                flops / seconds[variant] * 1e-12, steps + 1, loss[variant]);
  }
  std::printf("gpt2 124M step: plume / cuBLAS-matmul time ratio %.2f vs TF32, %.2f vs FAST_16BF "
              "(goal <= 1.5)\n", seconds[0] / seconds[1], seconds[0] / seconds[2]);
  return 0;
}
