// Which CUDA kernels a CUDA backend runs where there is more than one for an op. Chosen once, when
// the backend is made, from the environment (the agent and the benchmarks) or explicitly (tests):
//
//   PLUME_CUDA_MATMUL     unset or "tf32": the TF32 WMMA matmul (matmul.cu), the default
//                         "pipelined": its cp.async variant (matmul_pipelined.cu), same bits
//                         "bf16": operands rounded to BF16 (matmul_bf16.cu); other bits
//   PLUME_CUDA_ATTENTION  unset or "fp32": the fp32 CUDA-core flash attention (attention.cu)
//                         "bf16": the forward on BF16 tensor cores (attention_bf16.cu); other bits
//
// A choice that changes output bits is part of the kernel class (kernel_class.h): replicas that
// compare bits must have made the same choice. Parsing is pure and compiled in every build.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "plume/kernels/error.h"
#include "plume/kernels/ops.h"

namespace plume::kernels {

enum class CudaMatmulKernel { kTf32, kPipelinedTf32, kBf16 };
enum class CudaAttentionKernel { kFp32, kBf16 };

struct CudaKernelChoice {
  CudaMatmulKernel matmul = CudaMatmulKernel::kTf32;
  CudaAttentionKernel attention = CudaAttentionKernel::kFp32;
};

// From the two variables' values (null: unset). An unknown value is an error naming the
// accepted ones: a typo must not silently run (and bill) the default kernels.
Result<CudaKernelChoice> ParseCudaKernelChoice(const char* matmul, const char* attention);
Result<CudaKernelChoice> CudaKernelChoiceFromEnv();

// The part of a CUDA kernel class's device token that the choice contributes: "" for choices
// with the default bits, else e.g. "mm-bf16.attn-bf16". Pure.
std::string CudaKernelChoiceToken(const CudaKernelChoice& choice);

// MakeCudaOps(device) with an explicit choice instead of the environment (tests compare the
// variants in one process). Without CUDA, the same error as MakeCudaOps.
Result<std::unique_ptr<Ops>> MakeCudaOpsWith(int device, const CudaKernelChoice& choice);

}  // namespace plume::kernels
