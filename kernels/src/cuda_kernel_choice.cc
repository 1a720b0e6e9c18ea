// Parsing of the CUDA kernel choice (cuda_kernel_choice.h says what the values mean).
#include "cuda_kernel_choice.h"

#include <cstdlib>
#include <string>

namespace plume::kernels {

Result<CudaKernelChoice> ParseCudaKernelChoice(const char* matmul, const char* attention) {
  CudaKernelChoice choice;
  const std::string mm = matmul == nullptr ? "" : matmul;
  if (mm == "bf16") {
    choice.matmul = CudaMatmulKernel::kBf16;
  } else if (mm == "pipelined") {
    choice.matmul = CudaMatmulKernel::kPipelinedTf32;
  } else if (!mm.empty() && mm != "tf32") {
    return Fail("PLUME_CUDA_MATMUL='" + mm + "' is not one of tf32 (the default), pipelined, bf16");
  }
  const std::string at = attention == nullptr ? "" : attention;
  if (at == "bf16") {
    choice.attention = CudaAttentionKernel::kBf16;
  } else if (!at.empty() && at != "fp32") {
    return Fail("PLUME_CUDA_ATTENTION='" + at + "' is not one of fp32 (the default), bf16");
  }
  return choice;
}

Result<CudaKernelChoice> CudaKernelChoiceFromEnv() {
  return ParseCudaKernelChoice(std::getenv("PLUME_CUDA_MATMUL"),
                               std::getenv("PLUME_CUDA_ATTENTION"));
}

std::string CudaKernelChoiceToken(const CudaKernelChoice& choice) {
  // The pipelined TF32 kernel rounds and sums exactly as the default one: same class.
  std::string out;
  if (choice.matmul == CudaMatmulKernel::kBf16) out = "mm-bf16";
  if (choice.attention == CudaAttentionKernel::kBf16) out += out.empty() ? "attn-bf16" : ".attn-bf16";
  return out;
}

}  // namespace plume::kernels
