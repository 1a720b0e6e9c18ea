// Generation with a KV cache: the cache's logits against the training graph's (Gpt level), the
// batch independence of a sequence's bits, greedy completions equal to the no-cache path on a
// random and on a trained model (windows that slide included), continuous batching, stops and
// finish reasons, hooks, and the billing rule (flops.h) against the work the cached path runs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "cpu_test_util.h"
#include "delegating_ops.h"
#include "plume/kernels/flops.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/runner.h"
#include "plume/kernels/sampler.h"
#include "shakespeare_test_util.h"

namespace plume::kernels {
namespace {

using testing::BitEqual;
using testing::RandomTokens;

// HS = 12: the lane tails of the decode kernels are exercised everywhere; context 24.
const ModelConfig kModel{2, 3, 36, 24, 256};

// GPT-2 initialisation scaled up, so logits are spread out and greedy choices are not decided
// by float rounding.
std::vector<float> RandomParams(const ModelConfig& m, uint64_t seed) {
  auto p = InitialParams(m, seed);
  EXPECT_TRUE(p);
  for (float& x : *p) x *= 4.0f;
  return *p;
}

// Largest |a - b| / (|b| + rms(b)).
double RelErr(const std::vector<float>& a, const std::vector<float>& b) {
  double sumsq = 0.0;
  for (float x : b) sumsq += double{x} * x;
  const double rms = std::sqrt(sumsq / std::max<size_t>(b.size(), 1)) + 1e-30;
  double worst = a.size() == b.size() ? 0.0 : 1e30;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
    worst = std::max(worst, std::fabs(double{a[i]} - b[i]) / (std::fabs(double{b[i]}) + rms));
  }
  return worst;
}

TEST(GptKvCacheTest, PrefillAndDecodeGiveTheLogitsOfTheFullForward) {
  auto ops = MakeCpuOps(2);
  auto model = Gpt::Create(kModel, *ops);
  ASSERT_TRUE(model);
  Gpt& gpt = **model;
  ASSERT_TRUE(gpt.SetParams(RandomParams(kModel, 1)));
  const auto tokens = RandomTokens(20, kModel.vocab, 2);
  const auto full = [&](int T) {  // logits after tokens[0..T) by the training graph
    EXPECT_TRUE(gpt.Forward(std::span(tokens).first(T), {}, 1, T));
    return *gpt.LogitsAt(0, T - 1);
  };
  ASSERT_TRUE(gpt.ReserveKvCache(2, 24));
  auto logits = gpt.Prefill(1, std::span(tokens).first(6));
  ASSERT_TRUE(logits) << logits.error().message;
  EXPECT_LT(RelErr(*logits, full(6)), 1e-4);
  for (int t = 6; t < 20; ++t) {
    const int32_t slot = 1;
    logits = gpt.Decode(std::span(&slot, 1), std::span(tokens).subspan(t, 1));
    ASSERT_TRUE(logits) << logits.error().message;
    EXPECT_LT(RelErr(*logits, full(t + 1)), 1e-4) << "position " << t;
  }
  EXPECT_EQ(gpt.SlotLength(1), 20);
  // The comparison sees a wrong token fed to the cache.
  ASSERT_TRUE(gpt.Prefill(0, std::span(tokens).first(6)));
  const int32_t slot = 0, wrong = (tokens[6] + 1) % kModel.vocab;
  logits = gpt.Decode(std::span(&slot, 1), std::span(&wrong, 1));
  ASSERT_TRUE(logits);
  EXPECT_GT(RelErr(*logits, full(7)), 1e-2);
}

// 16 sequences of different lengths decoded together (slots assigned in reverse) against each
// decoded alone in slot 0 of a one-slot cache: bit-identical logits at every step.
TEST(GptKvCacheTest, ASequenceDecodesToTheSameBitsAloneAndInABatchOf16) {
  constexpr int kSeqs = 16, kSteps = 4;
  auto ops = MakeCpuOps(2);
  const auto params = RandomParams(kModel, 3);
  std::vector<std::vector<int32_t>> seqs;
  for (int i = 0; i < kSeqs; ++i) seqs.push_back(RandomTokens(1 + i, kModel.vocab, 100 + i));
  const auto fed = RandomTokens(size_t{kSeqs} * kSteps, kModel.vocab, 4);  // step s, row i

  auto batched = Gpt::Create(kModel, *ops);
  ASSERT_TRUE(batched && (*batched)->SetParams(params) && (*batched)->ReserveKvCache(kSeqs, 24));
  std::vector<std::vector<std::vector<float>>> together(kSeqs);  // [seq][step]
  std::vector<int32_t> slots(kSeqs);
  for (int i = 0; i < kSeqs; ++i) {
    slots[i] = kSeqs - 1 - i;
    auto l = (*batched)->Prefill(slots[i], seqs[i]);
    ASSERT_TRUE(l);
    together[i].push_back(*l);
  }
  for (int s = 0; s < kSteps; ++s) {
    auto l = (*batched)->Decode(slots, std::span(fed).subspan(static_cast<size_t>(s) * kSeqs, kSeqs));
    ASSERT_TRUE(l) << l.error().message;
    for (int i = 0; i < kSeqs; ++i) {
      together[i].emplace_back(l->begin() + long{i} * kModel.vocab,
                               l->begin() + long{i + 1} * kModel.vocab);
    }
  }
  const auto alone = [&](const std::vector<int32_t>& prompt, int i) {
    auto m = Gpt::Create(kModel, *ops);
    EXPECT_TRUE(m && (*m)->SetParams(params) && (*m)->ReserveKvCache(1, 24));
    std::vector<std::vector<float>> out{*(*m)->Prefill(0, prompt)};
    const int32_t slot = 0;
    for (int s = 0; s < kSteps; ++s) {
      out.push_back(*(*m)->Decode(std::span(&slot, 1), std::span(fed).subspan(s * kSeqs + i, 1)));
    }
    return out;
  };
  for (int i = 0; i < kSeqs; ++i) {
    const auto own = alone(seqs[i], i);
    for (int s = 0; s <= kSteps; ++s) {
      EXPECT_TRUE(BitEqual(own[s], together[i][s])) << "sequence " << i << ", step " << s;
    }
  }
  // The check sees one changed prompt token.
  auto changed = seqs[5];
  changed[0] = (changed[0] + 1) % kModel.vocab;
  EXPECT_FALSE(BitEqual(alone(changed, 5)[kSteps], together[5][kSteps]));
}

TEST(GptKvCacheTest, BadSlotsAndLengthsAreErrors) {
  auto ops = MakeCpuOps(1);
  auto model = Gpt::Create(kModel, *ops);
  ASSERT_TRUE(model);
  Gpt& gpt = **model;
  const std::vector<int32_t> two = {1, 2}, one = {7};
  EXPECT_FALSE(gpt.Prefill(0, one));        // no cache yet
  EXPECT_FALSE(gpt.ReserveKvCache(2, 25));  // beyond the context
  ASSERT_TRUE(gpt.ReserveKvCache(2, 3));
  EXPECT_FALSE(gpt.Prefill(2, one));
  EXPECT_FALSE(gpt.Prefill(0, std::vector<int32_t>(4, 1)));  // longer than the cache
  EXPECT_FALSE(gpt.Decode(std::vector<int32_t>{0}, one));    // empty slot
  ASSERT_TRUE(gpt.Prefill(0, two));
  ASSERT_TRUE(gpt.Prefill(1, one));
  EXPECT_FALSE(gpt.Decode(std::vector<int32_t>{0, 0}, two));  // the same slot twice
  EXPECT_FALSE(gpt.Decode(std::vector<int32_t>{0}, std::vector<int32_t>{256}));  // vocabulary
  ASSERT_TRUE(gpt.Decode(std::vector<int32_t>{0, 1}, two));
  EXPECT_EQ(gpt.SlotLength(0), 3);
  const auto full = gpt.Decode(std::vector<int32_t>{0}, one);
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find("full"), std::string::npos) << full.error().message;
}

TEST(GptKvCacheTest, AnInferenceModelHoldsParametersOnlyAndRefusesToTrain) {
  auto ops = MakeCpuOps(1);
  auto model = Gpt::CreateForInference(kModel, *ops);
  ASSERT_TRUE(model);
  Gpt& gpt = **model;
  ASSERT_TRUE(gpt.SetParams(RandomParams(kModel, 9)));
  EXPECT_EQ(gpt.grad_data(), nullptr);
  const auto x = RandomTokens(8, kModel.vocab, 10);
  ASSERT_TRUE(gpt.Forward(x, {}, 1, 8));
  ASSERT_TRUE(gpt.Forward(x, x, 1, 8));  // a loss can still be evaluated
  const auto back = gpt.Backward();
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message.find("created for inference"), std::string::npos);
  EXPECT_FALSE(gpt.ZeroGrad());
  EXPECT_FALSE(gpt.Step(AdamWParams{}, 1.0f));
  EXPECT_FALSE(gpt.GetState());
  EXPECT_FALSE(gpt.GetGrads());
  ASSERT_TRUE(gpt.ReserveKvCache(1, 8));
  EXPECT_TRUE(gpt.Prefill(0, x));
}

// Prompts shorter and longer than the context, and 50 new tokens in a context of 24: windows
// slide several times.
TEST(GenerateTest, GreedyCompletionsEqualTheNoCachePathOnARandomModel) {
  auto ops = MakeCpuOps(2);
  const auto params = RandomParams(kModel, 5);
  GenerateConfig g;
  g.temperature = 0.0f;
  g.max_new_tokens = 50;
  g.batch = 3;
  const std::vector<std::string> prompts = {"a", "Hello", "", std::string(30, 'x') + "yz"};
  const auto bytes = MakeByteTokenizer();
  const auto cached = Generate(kModel, params, prompts, g, *ops, *bytes);
  const auto reference = GenerateWithoutCache(kModel, params, prompts, g, *ops, *bytes);
  ASSERT_TRUE(cached && reference) << (cached ? reference.error().message : cached.error().message);
  ASSERT_EQ(cached->size(), prompts.size());
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ((*cached)[i].completion, (*reference)[i].completion) << "prompt " << i;
    EXPECT_EQ((*cached)[i].tokens, 50);
    EXPECT_EQ((*cached)[i].finish, FinishReason::kLength);
  }
  EXPECT_EQ((*cached)[3].prompt_tokens, 32);
  EXPECT_EQ((*cached)[2].prompt_tokens, 1);  // "" starts from "\n"
}

TEST(GenerateTest, GreedyCompletionsEqualTheNoCachePathOnATrainedModel) {
  const auto text = testing::LoadShakespeare();
  ASSERT_TRUE(text) << text.error().message;
  const ModelConfig model{2, 4, 64, 32, 256};
  auto ops = MakeCpuOps(2);
  const auto trained =
      TrainShard(model, testing::ShakespeareTrain(300, 8, 32, 20), {}, text->train(), {}, *ops);
  ASSERT_TRUE(trained) << trained.error().message;
  GenerateConfig g;
  g.temperature = 0.0f;
  g.max_new_tokens = 80;  // context 32: the window slides
  const std::vector<std::string> prompts = {"ROMEO:\n", "First Citizen:\nWe are", "KING"};
  const auto bytes = MakeByteTokenizer();
  const auto cached = Generate(model, trained->params, prompts, g, *ops, *bytes);
  const auto reference = GenerateWithoutCache(model, trained->params, prompts, g, *ops, *bytes);
  ASSERT_TRUE(cached && reference);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ((*cached)[i].completion, (*reference)[i].completion) << "prompt " << i;
    // A trained model writes English-looking text (greedy decoding of a small model loops on
    // its likeliest words, e.g. " the the"); a random one writes arbitrary bytes.
    const std::string& c = (*cached)[i].completion;
    EXPECT_TRUE(std::all_of(c.begin(), c.end(), [](char ch) {
      return ch == '\n' || (ch >= ' ' && ch <= '~');
    })) << c;
    EXPECT_GE(std::set<char>(c.begin(), c.end()).size(), 3u) << c;
  }
}

// Sampling (temperature, top-k, top-p) with stop sequences, so sequences finish at different
// steps: every prompt's completion is the same alone, in a batch of 16, and streamed through 4
// slots (continuous batching: finished sequences leave, waiting ones join).
TEST(GenerateTest, ACompletionIsTheSameAloneAndInAnyBatch) {
  auto ops = MakeCpuOps(2);
  const auto params = RandomParams(kModel, 6);
  GenerateConfig g;
  g.temperature = 0.9f;
  g.top_k = 0;
  g.top_p = 0.95f;
  g.max_new_tokens = 30;
  g.seed = 21;
  g.stop = {"<", "\xc6"};  // bytes this random model emits now and then
  std::vector<std::string> prompts;
  for (int i = 0; i < 16; ++i) prompts.push_back(std::string(size_t(i % 5), char('A' + i)));
  const auto bytes = MakeByteTokenizer();
  g.batch = 16;
  const auto sixteen = Generate(kModel, params, prompts, g, *ops, *bytes);
  g.batch = 4;
  const auto four = Generate(kModel, params, prompts, g, *ops, *bytes);
  ASSERT_TRUE(sixteen && four);
  std::set<int> lengths;
  for (int i = 0; i < 16; ++i) {
    GenerateConfig solo = g;
    solo.batch = 1;
    solo.first_index = i;
    const auto alone = Generate(kModel, params, {prompts[i]}, solo, *ops, *bytes);
    ASSERT_TRUE(alone);
    const Completion& a = (*alone)[0];
    for (const auto* batch : {&*sixteen, &*four}) {
      const Completion& b = (*batch)[i];
      EXPECT_EQ(a.index, b.index);
      EXPECT_EQ(a.completion, b.completion) << "prompt " << i;
      EXPECT_EQ(a.tokens, b.tokens) << "prompt " << i;
      EXPECT_EQ(a.finish, b.finish) << "prompt " << i;
    }
    lengths.insert(a.tokens);
  }
  EXPECT_GE(lengths.size(), 3u) << "sequences should finish at different steps";
  // Another seed gives other text: the comparison above can fail.
  g.seed = 22;
  const auto other = Generate(kModel, params, prompts, g, *ops, *bytes);
  ASSERT_TRUE(other);
  int differ = 0;
  for (int i = 0; i < 16; ++i) differ += (*other)[i].completion != (*sixteen)[i].completion;
  EXPECT_GT(differ, 0);
}

}  // namespace
}  // namespace plume::kernels
