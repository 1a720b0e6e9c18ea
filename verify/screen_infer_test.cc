// The inference-shard screen on a real shard (Generate on a tiny GPT, written as the agent writes
// outputs.jsonl) and on each kind of bad shard, each refused with its own reason.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/runner.h"
#include "plume/verify/screen.h"

namespace plume::verify {
namespace {

using nlohmann::json;

std::string Line(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::vector<uint8_t> Bytes(const std::string& s) { return {s.begin(), s.end()}; }

class InferScreenTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const kernels::ModelConfig model{1, 2, 16, 32, 256};
    screen_.first_index = 10;  // shard 1: prompts 10..13 of the job
    screen_.prompts = {"Hello", "", "bad \xff\xfe utf-8", "ROMEO:"};
    screen_.max_new_tokens = 12;
    auto params = kernels::InitialParams(model, 5);
    ASSERT_TRUE(params.has_value());
    kernels::GenerateConfig gen;
    gen.max_new_tokens = 12;
    gen.seed = 9;
    gen.first_index = 10;
    auto ops = kernels::MakeCpuOps(1);
    auto out = kernels::Generate(model, *params, screen_.prompts, gen, *ops);
    ASSERT_TRUE(out.has_value()) << out.error().message;
    for (const auto& c : *out) {
      lines_.push_back(json::parse(kernels::CompletionJson(c)));  // as the agent writes it
      screen_.prompt_tokens.push_back(static_cast<uint64_t>(c.prompt_tokens));
    }
  }
  static std::string Join(const std::vector<json>& lines) {
    std::string s;
    for (const json& j : lines) s += Line(j);
    return s;
  }
  static Reason Screen(const std::string& text) {
    return ScreenInferShard(Bytes(text), screen_).reason;
  }

  static inline InferScreen screen_;
  static inline std::vector<json> lines_;
};

TEST_F(InferScreenTest, HonestShardPasses) {
  Verdict v = ScreenInferShard(Bytes(Join(lines_)), screen_);
  EXPECT_TRUE(v.ok()) << Name(v.reason) << ": " << v.message;
}

TEST_F(InferScreenTest, EmptyShardOfNoPromptsPasses) {
  EXPECT_TRUE(ScreenInferShard({}, InferScreen{0, {}, 5}).ok());
}

// A dispute's referee regenerates some prompts of a shard only (dispute.h): lines 0 and 2 of
// the shard, at their global indices 10 and 12, pass a screen that names those; the same lines
// under the shard's contiguous indices, or in the other order, do not.
TEST_F(InferScreenTest, ASubShardOfChosenPromptsPassesWithItsIndices) {
  InferScreen sub = screen_;
  sub.prompts = {screen_.prompts[0], screen_.prompts[2]};
  sub.prompt_tokens = {screen_.prompt_tokens[0], screen_.prompt_tokens[2]};
  sub.indices = {10, 12};
  const std::string text = Line(lines_[0]) + Line(lines_[2]);
  Verdict v = ScreenInferShard(Bytes(text), sub);
  EXPECT_TRUE(v.ok()) << Name(v.reason) << ": " << v.message;
  EXPECT_EQ(ScreenInferShard(Bytes(Line(lines_[2]) + Line(lines_[0])), sub).reason,
            Reason::kOutOfOrder);
  sub.indices.clear();  // then the lines must be 10 and 11: 12 is outside
  EXPECT_EQ(ScreenInferShard(Bytes(text), sub).reason, Reason::kWrongIndex);
}

// An agent from before prompt_tokens and finish_reason wrote the first four keys only.
TEST_F(InferScreenTest, LinesWithoutTheTokenCountsAndFinishReasonPass) {
  auto old = lines_;
  for (json& j : old) {
    j.erase("prompt_tokens");
    j.erase("finish_reason");
  }
  EXPECT_TRUE(ScreenInferShard(Bytes(Join(old)), screen_).ok());
  auto half = lines_;
  half[1].erase("finish_reason");  // one without the other
  EXPECT_EQ(Screen(Join(half)), Reason::kMalformed);
}

// Each line's finish reason and prompt token count must be what the job could give: "length"
// at max_new_tokens, "stop" after at least one token, nothing else, and the prompt's own count.
TEST_F(InferScreenTest, BadFinishReasonsAndPromptTokenCountsAreRefused) {
  ASSERT_EQ(lines_[0]["finish_reason"], "length");
  auto refused = [&](const char* key, const json& value, const char* why) {
    auto bad = lines_;
    bad[2][key] = value;
    bad[2]["completion"] = "";  // no character count to trip over
    const Verdict v = ScreenInferShard(Bytes(Join(bad)), screen_);
    EXPECT_EQ(v.reason, Reason::kMalformed) << key << " = " << value.dump();
    EXPECT_NE(v.message.find(why), std::string::npos) << v.message;
  };
  refused("finish_reason", "eos", "expected \"length\" or \"stop\"");
  refused("finish_reason", "", "expected");
  refused("finish_reason", 1, "must have exactly");
  refused("prompt_tokens", -1, "must have exactly");
  refused("prompt_tokens", screen_.prompt_tokens[2] + 1, "prompt tokens; the prompt has");
  refused("tokens", 5, "finished by length after 5 tokens");  // "length" before max_new_tokens
  auto stopped = lines_;
  stopped[2]["finish_reason"] = "stop";
  stopped[2]["tokens"] = 5;
  stopped[2]["completion"] = "abc";
  EXPECT_TRUE(ScreenInferShard(Bytes(Join(stopped)), screen_).ok());
  stopped[2]["tokens"] = 0;
  stopped[2]["completion"] = "";
  EXPECT_EQ(Screen(Join(stopped)), Reason::kMalformed);
}

// With a tokenizer whose tokens are longer than a byte (GPT-2's BPE), a completion may have
// up to token_bytes_max characters per token, and the size bound grows with it.
TEST_F(InferScreenTest, TheTokenizersLongestTokenBoundsACompletion) {
  InferScreen bpe = screen_;
  bpe.token_bytes_max = 4;
  auto longer = lines_;
  longer[0]["completion"] = std::string(48, 'a');  // 12 tokens of 4 bytes
  EXPECT_TRUE(ScreenInferShard(Bytes(Join(longer)), bpe).ok());
  EXPECT_EQ(Screen(Join(longer)), Reason::kTooManyTokens);  // bytes: one per token
  longer[0]["completion"] = std::string(49, 'a');
  EXPECT_EQ(ScreenInferShard(Bytes(Join(longer)), bpe).reason, Reason::kTooManyTokens);
  EXPECT_GT(MaxInferShardBytes(bpe), MaxInferShardBytes(screen_));
  bpe.token_bytes_max = uint64_t{1} << 40;  // saturates rather than wraps
  bpe.max_new_tokens = UINT32_MAX;
  EXPECT_EQ(MaxInferShardBytes(bpe), UINT64_MAX);
}

TEST_F(InferScreenTest, InvalidJsonAndSchemaAreMalformed) {
  EXPECT_EQ(Screen("not json\n"), Reason::kMalformed);
  EXPECT_EQ(Screen(Join(lines_).substr(0, Join(lines_).size() - 5)), Reason::kMalformed);
  auto extra = lines_;
  extra[1]["paid"] = 1;
  EXPECT_EQ(Screen(Join(extra)), Reason::kMalformed);
  auto missing = lines_;
  missing[2].erase("tokens");
  EXPECT_EQ(Screen(Join(missing)), Reason::kMalformed);
}

TEST_F(InferScreenTest, MissingAndExtraLinesAreWrongCount) {
  auto fewer = lines_;
  fewer.pop_back();
  EXPECT_EQ(Screen(Join(fewer)), Reason::kWrongCount);
  auto more = lines_;
  more.push_back(more.back());
  more.back()["index"] = 14;
  EXPECT_EQ(Screen(Join(more)), Reason::kWrongCount);
  EXPECT_EQ(Screen(""), Reason::kWrongCount);
}

TEST_F(InferScreenTest, ReorderedLinesAndWrongIndicesAreRefused) {
  auto swapped = lines_;
  std::swap(swapped[0], swapped[1]);
  EXPECT_EQ(Screen(Join(swapped)), Reason::kOutOfOrder);
  auto shifted = lines_;
  for (json& j : shifted) j["index"] = j["index"].get<int>() - 10;  // indices from 0, not 10
  EXPECT_EQ(Screen(Join(shifted)), Reason::kWrongIndex);
}

TEST_F(InferScreenTest, AnotherPromptIsRefused) {
  auto other = lines_;
  other[3]["prompt"] = "JULIET:";
  EXPECT_EQ(Screen(Join(other)), Reason::kWrongPrompt);
}

TEST_F(InferScreenTest, TooManyTokensAreRefused) {
  auto claims = lines_;
  claims[0]["tokens"] = 13;
  EXPECT_EQ(Screen(Join(claims)), Reason::kTooManyTokens);
  auto longer = lines_;
  longer[0]["completion"] = std::string(13, 'a');  // more characters than its 12 tokens
  EXPECT_EQ(Screen(Join(longer)), Reason::kTooManyTokens);
}

TEST_F(InferScreenTest, OversizedShardIsRefusedBeforeParsing) {
  std::string junk(MaxInferShardBytes(screen_) + 1, 'x');
  EXPECT_EQ(Screen(junk), Reason::kOversized);
}

}  // namespace
}  // namespace plume::verify
