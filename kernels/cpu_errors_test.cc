// Bad input to the CPU backend is an error value naming the argument, never a crash: sizes that
// are zero or negative, widths not divisible by the head count, padded vocabularies smaller than
// the vocabulary, targets or tokens out of range, null buffers, bad optimizer settings.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plume/kernels/ops.h"

namespace plume::kernels {
namespace {

// Expects an error whose message contains `needle`.
template <class R>
void ExpectError(const R& r, const std::string& needle) {
  ASSERT_FALSE(r.has_value()) << "expected an error mentioning " << needle;
  EXPECT_NE(r.error().message.find(needle), std::string::npos) << r.error().message;
}

class CpuErrors : public ::testing::Test {
 protected:
  std::unique_ptr<Ops> ops_ = MakeCpuOps();
  std::vector<float> f_ = std::vector<float>(4096, 0.0f);
  std::vector<int32_t> tok_ = std::vector<int32_t>(64, 0);
  float* f() { return f_.data(); }
};

TEST_F(CpuErrors, NonPositiveSizes) {
  ExpectError(ops_->EncoderForward(f(), tok_.data(), f(), f(), 0, 4, 8), "B must be positive");
  ExpectError(ops_->EncoderBackward(f(), f(), f(), tok_.data(), tok_.data(), 2, -1, 8),
              "T must be positive");
  ExpectError(ops_->LayerNormForward(f(), f(), f(), f(), f(), f(), 4, 0), "C must be positive");
  ExpectError(ops_->LayerNormBackward(f(), f(), f(), f(), f(), f(), f(), f(), -3, 4),
              "N must be positive");
  ExpectError(ops_->MatmulForward(f(), f(), f(), nullptr, 4, 4, 0), "OC must be positive");
  ExpectError(ops_->MatmulBackward(f(), f(), f(), f(), f(), f(), 0, 4, 4), "N must be positive");
  ExpectError(ops_->AttentionForward(f(), f(), f(), 1, 0, 8, 2), "T must be positive");
  ExpectError(ops_->SoftmaxCrossEntropy(f(), f(), nullptr, tok_.data(), 2, 0, 4, 1.0f, true),
              "V must be positive");
}

TEST_F(CpuErrors, HeadsMustDivideWidth) {
  ExpectError(ops_->AttentionForward(f(), f(), f(), 1, 4, 10, 3), "multiple of the head count");
  ExpectError(ops_->AttentionBackward(f(), f(), f(), f(), f(), 1, 4, 10, 4),
              "multiple of the head count");
  ExpectError(ops_->AttentionForward(f(), f(), f(), 1, 4, 8, 0), "NH must be positive");
}

TEST_F(CpuErrors, VocabularyAndTargets) {
  ExpectError(ops_->SoftmaxCrossEntropy(f(), f(), nullptr, tok_.data(), 2, 8, 6, 1.0f, true),
              "Vp=6 is smaller than the vocabulary V=8");
  ExpectError(ops_->Softmax(f(), f(), 2, 8, 6, 1.0f), "Vp=6");
  tok_[1] = 8;
  ExpectError(ops_->SoftmaxCrossEntropy(f(), f(), nullptr, tok_.data(), 2, 8, 8, 1.0f, true),
              "targets[1] = 8 is outside [0, 8)");
  tok_[1] = -1;
  ExpectError(ops_->SoftmaxCrossEntropy(f(), f(), nullptr, tok_.data(), 2, 8, 8, 1.0f, true),
              "targets[1] = -1");
  ExpectError(ops_->EncoderForward(f(), tok_.data(), f(), f(), 1, 4, 8), "tokens[1] = -1");
  ExpectError(ops_->Softmax(f(), f(), 2, 8, 8, 0.0f), "temperature must be positive");
}

TEST_F(CpuErrors, NullBuffersAndOptimizerSettings) {
  ExpectError(ops_->MatmulForward(f(), nullptr, f(), nullptr, 2, 2, 2), "inp is null");
  ExpectError(ops_->LayerNormForward(f(), f(), nullptr, f(), f(), f(), 2, 2), "rstd is null");
  ExpectError(ops_->GeluForward(nullptr, f(), 4), "out is null");
  ExpectError(ops_->GlobalNorm(nullptr, 4), "grads is null");
  AdamWParams p;
  p.step = 0;
  ExpectError(ops_->AdamW(f(), f(), f(), f(), 4, p), "step must be >= 1");
  p.step = 1;
  p.beta2 = 1.0f;
  ExpectError(ops_->AdamW(f(), f(), f(), f(), 4, p), "beta1 and beta2");
}

}  // namespace
}  // namespace plume::kernels
