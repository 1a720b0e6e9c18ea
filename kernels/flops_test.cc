// The billing rule of generation (flops.h): the closed form against a step-by-step walk of the
// sliding window, and against the FLOPs of the ops the cached path actually runs, counted by a
// wrapper around the CPU backend.
#include "plume/kernels/flops.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "delegating_ops.h"
#include "plume/kernels/runner.h"

namespace plume::kernels {
namespace {

// Counts the multiply-add FLOPs of the matmuls and attention products it runs (the terms
// flops.h bills; norms, GELU and the like are not billed and not counted).
class CountingOps final : public DelegatingOps {
 public:
  CountingOps() : DelegatingOps(MakeCpuOps(2)) {}
  int64_t flops = 0;
  Status MatmulForward(float* out, const float* inp, const float* weight, const float* bias, int N,
                       int C, int OC) override {
    flops += 2LL * N * C * OC;
    return DelegatingOps::MatmulForward(out, inp, weight, bias, N, C, OC);
  }
  Status MatmulForwardRows(float* out, const float* inp, const float* weight, const float* bias,
                           int N, int C, int OC) override {
    flops += 2LL * N * C * OC;
    return DelegatingOps::MatmulForwardRows(out, inp, weight, bias, N, C, OC);
  }
  Status AttentionForward(float* out, float* lse, const float* qkv, int B, int T, int C,
                          int NH) override {
    flops += 4LL * C * B * T * (T + 1) / 2;  // causal: position t attends to t keys
    return DelegatingOps::AttentionForward(out, lse, qkv, B, T, C, NH);
  }
  Status AttentionDecode(float* out, const float* qkv, const float* k_cache, const float* v_cache,
                         const int32_t* slots, const int32_t* lengths, int N, int C, int NH, int S,
                         int maxT) override {
    for (int i = 0; i < N; ++i) flops += 4LL * C * lengths[i];  // host memory on the CPU
    return DelegatingOps::AttentionDecode(out, qkv, k_cache, v_cache, slots, lengths, N, C, NH, S,
                                          maxT);
  }
};

// The window walked one token at a time, as flops.h describes it.
int64_t WalkedFlops(const ModelConfig& m, int64_t prompt, int64_t new_tokens) {
  if (new_tokens <= 0) return 0;
  const int64_t C = m.n_embd, L = m.n_layer;
  int64_t positions = 0, keys = 0, window = 0;
  for (int64_t len = prompt; len < prompt + new_tokens; ++len) {
    const int64_t w = GenerationWindow(m.context, prompt, len);
    if (w == window + 1 && len > prompt) {  // one more position in the cache
      positions += 1;
      keys += w;
    } else {  // the first window, or a slide: prefilled
      positions += w;
      keys += w * (w + 1) / 2;
    }
    window = w;
  }
  return positions * 2 * L * 12 * C * C + keys * 4 * L * C + new_tokens * 2 * m.vocab * C;
}

TEST(FlopsTest, TheWindowSlidesAsDocumented) {
  // Context 4, keep 2: a 2-token prompt grows to 4, then restarts from 2 tokens, and so on.
  std::vector<int64_t> w;
  for (int64_t len = 2; len < 11; ++len) w.push_back(GenerationWindow(4, 2, len));
  EXPECT_EQ(w, (std::vector<int64_t>{2, 3, 4, 2, 3, 4, 2, 3, 4}));
  // A prompt longer than the context starts from its last 4 tokens.
  EXPECT_EQ(GenerationWindow(4, 9, 9), 4);
  EXPECT_EQ(GenerationWindow(4, 9, 10), 2);
  // Context 1 keeps 1: every token is a fresh window of one.
  EXPECT_EQ(GenerationWindow(1, 3, 7), 1);
  EXPECT_EQ(SlideKeep(1024), 512);
  EXPECT_EQ(SlideKeep(5), 3);
}

TEST(FlopsTest, GenerationFlopsIsTheWindowWalkedStepByStep) {
  for (int ctx = 1; ctx <= 9; ++ctx) {
    const ModelConfig m{2, 1, 4, ctx, 10};
    for (int64_t p = 1; p <= 12; ++p) {
      for (int64_t n = 0; n <= 30; ++n) {
        ASSERT_EQ(GenerationFlops(m, p, n), WalkedFlops(m, p, n))
            << "context " << ctx << ", prompt " << p << ", new " << n;
      }
    }
  }
  // The walk can disagree: it does with another slide rule.
  const ModelConfig m{2, 1, 4, 6, 10};
  EXPECT_NE(GenerationFlops(m, 5, 20), GenerationFlops(ModelConfig{2, 1, 4, 7, 10}, 5, 20));
}

// What the cached path runs, counted op by op, is what is billed: prompts shorter and longer
// than the context, windows that slide, batched decode steps.
TEST(FlopsTest, GenerationFlopsIsWhatTheCachedPathRuns) {
  const ModelConfig m{2, 2, 16, 12, 256};
  auto params = InitialParams(m, 4);
  ASSERT_TRUE(params);
  GenerateConfig g;
  g.temperature = 0.0f;
  g.batch = 3;
  const std::vector<std::string> prompts = {"a", "abcdef", std::string(20, 'q'), "xy"};
  for (int n : {1, 2, 7, 30}) {
    CountingOps ops;
    g.max_new_tokens = n;
    const auto out = Generate(m, *params, prompts, g, ops);
    ASSERT_TRUE(out) << out.error().message;
    int64_t billed = 0;
    for (const auto& p : prompts) billed += GenerationFlops(m, PromptTokens(p), n);
    EXPECT_EQ(ops.flops, billed) << "max_new_tokens " << n;
    std::vector<int64_t> tokens;
    for (const auto& p : prompts) tokens.push_back(PromptTokens(p));
    EXPECT_EQ(InferTaskFlops(m, tokens, n), billed);
  }
}

}  // namespace
}  // namespace plume::kernels
