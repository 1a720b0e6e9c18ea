// How a completion ends and what it reports: max_new_tokens ("length"), the tokenizer's
// end-of-text token and stop sequences ("stop"), the JSONL line, the hooks (progress per
// completion, cancellation), top-p sampling, and configuration errors.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "delegating_ops.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/runner.h"
#include "plume/kernels/sampler.h"

namespace plume::kernels {
namespace {

const ModelConfig kModel{2, 2, 32, 24, 256};

std::vector<float> Params() {
  auto p = InitialParams(kModel, 8);
  EXPECT_TRUE(p);
  for (float& x : *p) x *= 4.0f;
  return *p;
}

// The byte tokenizer with one byte value taken as the end-of-text token, as GPT-2's BPE has
// <|endoftext|>.
class BytesWithEndOfText final : public Tokenizer {
 public:
  explicit BytesWithEndOfText(int32_t eot) : eot_(eot) {}
  std::string_view name() const override { return "bytes+eot"; }
  int32_t vocab_size() const override { return kByteVocab; }
  std::vector<int32_t> Encode(std::string_view text) const override { return EncodeBytes(text); }
  Result<std::string> Decode(std::span<const int32_t> tokens) const override {
    return DecodeBytes(tokens);
  }
  std::optional<int32_t> end_of_text() const override { return eot_; }
  size_t token_bytes_max() const override { return 1; }

 private:
  int32_t eot_;
};

GenerateConfig Greedy(int max_new_tokens) {
  GenerateConfig g;
  g.temperature = 0.0f;
  g.max_new_tokens = max_new_tokens;
  return g;
}

TEST(GenerateTest, FinishesAtLengthAtEndOfTextAndAtStopSequences) {
  auto ops = MakeCpuOps(2);
  const auto params = Params();
  const auto bytes = MakeByteTokenizer();
  const auto free_run = Generate(kModel, params, {"To be"}, Greedy(40), *ops, *bytes);
  ASSERT_TRUE(free_run);
  const Completion& base = (*free_run)[0];
  EXPECT_EQ(base.finish, FinishReason::kLength);
  EXPECT_EQ(base.tokens, 40);
  const std::string x = base.completion;
  ASSERT_EQ(x.size(), 40u);

  // A stop sequence: the completion ends before its first occurrence; its tokens are counted.
  GenerateConfig g = Greedy(40);
  g.stop = {"zzzz", x.substr(12, 3)};
  auto out = Generate(kModel, params, {"To be"}, g, *ops, *bytes);
  ASSERT_TRUE(out);
  const size_t at = x.find(x.substr(12, 3));
  EXPECT_EQ((*out)[0].completion, x.substr(0, at));
  EXPECT_EQ((*out)[0].tokens, static_cast<int>(at + 3));
  EXPECT_EQ((*out)[0].finish, FinishReason::kStop);

  // The end-of-text token: not in the text, counted as a token.
  const int32_t eot = static_cast<unsigned char>(x[9]);
  const BytesWithEndOfText with_eot(eot);
  out = Generate(kModel, params, {"To be"}, Greedy(40), *ops, with_eot);
  ASSERT_TRUE(out);
  const size_t first = x.find(x[9]);
  EXPECT_EQ((*out)[0].completion, x.substr(0, first));
  EXPECT_EQ((*out)[0].tokens, static_cast<int>(first + 1));
  EXPECT_EQ((*out)[0].finish, FinishReason::kStop);

  // An empty prompt starts from the end-of-text token when the tokenizer has one.
  out = Generate(kModel, params, {""}, Greedy(3), *ops, with_eot);
  ASSERT_TRUE(out);
  EXPECT_EQ((*out)[0].prompt_tokens, 1);

  // The JSONL line carries the counts and the reason.
  const auto line = nlohmann::json::parse(CompletionJson((*free_run)[0]));
  EXPECT_EQ(line["tokens"], 40);
  EXPECT_EQ(line["prompt_tokens"], 5);
  EXPECT_EQ(line["finish_reason"], "length");
  EXPECT_EQ(line["index"], 0);
  EXPECT_TRUE(line["completion"].is_string());  // bytes that are not UTF-8 become U+FFFD
  EXPECT_EQ(nlohmann::json::parse(CompletionJson((*out)[0]))["finish_reason"], "stop");
}

TEST(GenerateTest, HooksSeeEveryCompletionAndCanCancel) {
  auto ops = MakeCpuOps(1);
  const auto params = Params();
  const auto bytes = MakeByteTokenizer();
  GenerateConfig g = Greedy(5);
  g.batch = 2;
  std::vector<int64_t> seen;
  GenerateHooks hooks;
  hooks.on_completion = [&](const Completion& c) { seen.push_back(c.index); };
  const auto out = Generate(kModel, params, {"a", "bb", "c", "dd", "e"}, g, *ops, *bytes, hooks);
  ASSERT_TRUE(out);
  EXPECT_EQ(seen.size(), 5u);
  for (size_t i = 0; i < out->size(); ++i) EXPECT_EQ((*out)[i].index, static_cast<int64_t>(i));
  int polls = 0;
  hooks.cancel = [&] { return ++polls > 2; };
  const auto cancelled = Generate(kModel, params, {"a", "b"}, g, *ops, *bytes, hooks);
  ASSERT_FALSE(cancelled);
  EXPECT_EQ(cancelled.error().message, "cancelled");
  // max_new_tokens = 0 generates nothing and runs nothing.
  const auto none = Generate(kModel, params, {"a"}, Greedy(0), *ops, *bytes);
  ASSERT_TRUE(none);
  EXPECT_EQ((*none)[0].tokens, 0);
  EXPECT_EQ((*none)[0].completion, "");
}

// A device that reports little memory, or refuses allocations of some sizes (the key caches of
// 8 and 4 slots below), gets fewer slots; the texts are the same.
class SmallDeviceOps final : public DelegatingOps {
 public:
  SmallDeviceOps(uint64_t memory, std::vector<size_t> refused)
      : DelegatingOps(MakeCpuOps(1)), memory_(memory), refused_(std::move(refused)) {}
  uint64_t MemoryBytes() const override { return memory_; }
  Result<std::unique_ptr<Buffer>> Alloc(size_t bytes) override {
    if (std::find(refused_.begin(), refused_.end(), bytes) != refused_.end()) {
      return Fail("out of device memory (test)");
    }
    return DelegatingOps::Alloc(bytes);
  }
  Status MatmulForwardRows(float* out, const float* inp, const float* weight, const float* bias,
                           int N, int C, int OC) override {
    widest = std::max(widest, N);
    return DelegatingOps::MatmulForwardRows(out, inp, weight, bias, N, C, OC);
  }
  int widest = 0;

 private:
  uint64_t memory_;
  std::vector<size_t> refused_;
};

TEST(GenerateTest, AShortDeviceDecodesFewerAtOnceWithTheSameText) {
  const auto params = Params();
  const auto bytes = MakeByteTokenizer();
  GenerateConfig g = Greedy(10);
  g.temperature = 0.7f;
  const std::vector<std::string> prompts = {"a", "b", "c", "d", "e", "f", "g", "h"};
  auto ops = MakeCpuOps(1);
  const auto full = Generate(kModel, params, prompts, g, *ops, *bytes);
  ASSERT_TRUE(full);
  // One slot's cache: 2 (k, v) x 2 layers x 10 positions (1 + 10 - 1) x 32 floats.
  const uint64_t slot_bytes = 8ull * 2 * 10 * 32;
  SmallDeviceOps by_memory(4 * 3 * slot_bytes, {});  // a quarter of it holds 3 slots
  const auto three = Generate(kModel, params, prompts, g, by_memory, *bytes);
  ASSERT_TRUE(three);
  EXPECT_EQ(by_memory.widest, 3);
  SmallDeviceOps by_alloc(0, {8 * slot_bytes / 2, 4 * slot_bytes / 2});  // 8, 4 slots: no
  const auto two = Generate(kModel, params, prompts, g, by_alloc, *bytes);
  ASSERT_TRUE(two) << two.error().message;
  EXPECT_EQ(by_alloc.widest, 2);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ((*three)[i].completion, (*full)[i].completion);
    EXPECT_EQ((*two)[i].completion, (*full)[i].completion);
  }
}

TEST(GenerateTest, BadConfigurationsAreErrors) {
  auto ops = MakeCpuOps(1);
  const auto params = Params();
  const auto bytes = MakeByteTokenizer();
  GenerateConfig g = Greedy(2);
  g.top_p = 0.0f;
  EXPECT_FALSE(Generate(kModel, params, {"a"}, g, *ops, *bytes));
  g = Greedy(2);
  g.stop = {""};
  EXPECT_FALSE(Generate(kModel, params, {"a"}, g, *ops, *bytes));
  g = Greedy(2);
  g.batch = 0;
  EXPECT_FALSE(Generate(kModel, params, {"a"}, g, *ops, *bytes));
  ModelConfig big = kModel;
  big.vocab = 300;
  auto p = InitialParams(big, 1);
  ASSERT_TRUE(p);
  const auto r = Generate(big, *p, {"a"}, Greedy(2), *ops, *bytes);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("tokenizer"), std::string::npos) << r.error().message;
}

TEST(SamplerTest, TopPKeepsTheSmallestSetHoldingThatMuchProbability) {
  // At temperature 1: p = (0.5, 0.25, 0.125, 0.125) for logits log of those.
  const std::vector<float> logits = {std::log(0.125f), std::log(0.5f), std::log(0.125f),
                                     std::log(0.25f)};
  SplitMix64 rng(3);
  std::vector<int> counts(4);
  for (int i = 0; i < 4000; ++i) ++counts[SampleToken(logits, {1.0f, 0, 0.7f}, rng)];
  EXPECT_EQ(counts[0] + counts[2], 0);  // 0.5 + 0.25 >= 0.7: two tokens kept
  EXPECT_NEAR(counts[1] / 4000.0, 2.0 / 3.0, 0.03);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(SampleToken(logits, {1.0f, 0, 0.4f}, rng), 1);
  // top_p = 1 keeps everything.
  std::vector<int> all(4);
  for (int i = 0; i < 4000; ++i) ++all[SampleToken(logits, {1.0f, 0, 1.0f}, rng)];
  EXPECT_GT(all[0], 0);
  EXPECT_GT(all[2], 0);
}

}  // namespace
}  // namespace plume::kernels
