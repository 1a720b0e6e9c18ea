// The CUDA kernel choice: its parsing (every build) and the kernel-class token it adds.
#include "cuda_kernel_choice.h"

#include <gtest/gtest.h>

namespace plume::kernels {
namespace {

TEST(CudaKernelChoice, DefaultsWhenUnsetAndParsesEveryValue) {
  auto none = ParseCudaKernelChoice(nullptr, nullptr);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->matmul, CudaMatmulKernel::kTf32);
  EXPECT_EQ(none->attention, CudaAttentionKernel::kFp32);
  EXPECT_EQ(CudaKernelChoiceToken(*none), "");
  EXPECT_EQ(ParseCudaKernelChoice("", "")->matmul, CudaMatmulKernel::kTf32);
  EXPECT_EQ(ParseCudaKernelChoice("tf32", "fp32")->attention, CudaAttentionKernel::kFp32);
  EXPECT_EQ(ParseCudaKernelChoice("pipelined", nullptr)->matmul, CudaMatmulKernel::kPipelinedTf32);
  auto both = ParseCudaKernelChoice("bf16", "bf16");
  ASSERT_TRUE(both);
  EXPECT_EQ(both->matmul, CudaMatmulKernel::kBf16);
  EXPECT_EQ(both->attention, CudaAttentionKernel::kBf16);
}

TEST(CudaKernelChoice, OnlyBitChangingChoicesNameAClass) {
  // The pipelined TF32 kernel gives the default's bits; the BF16 kernels do not.
  EXPECT_EQ(CudaKernelChoiceToken(*ParseCudaKernelChoice("pipelined", nullptr)), "");
  EXPECT_EQ(CudaKernelChoiceToken(*ParseCudaKernelChoice("bf16", nullptr)), "mm-bf16");
  EXPECT_EQ(CudaKernelChoiceToken(*ParseCudaKernelChoice(nullptr, "bf16")), "attn-bf16");
  EXPECT_EQ(CudaKernelChoiceToken(*ParseCudaKernelChoice("bf16", "bf16")), "mm-bf16.attn-bf16");
}

TEST(CudaKernelChoice, ATypoIsAnErrorNamingTheAcceptedValues) {
  auto mm = ParseCudaKernelChoice("BF16", nullptr);
  ASSERT_FALSE(mm);
  EXPECT_NE(mm.error().message.find("tf32 (the default), pipelined, bf16"), std::string::npos);
  auto at = ParseCudaKernelChoice(nullptr, "flash");
  ASSERT_FALSE(at);
  EXPECT_NE(at.error().message.find("PLUME_CUDA_ATTENTION='flash'"), std::string::npos);
}

}  // namespace
}  // namespace plume::kernels
