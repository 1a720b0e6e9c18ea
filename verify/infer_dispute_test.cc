// Inference disputes narrowed to the prompts whose completions differ (dispute.h): a shard of 8
// prompts is generated with the real CPU kernels and committed to per completion; a cheater's list
// differs at one or two prompts; the plan names exactly those, and a referee that regenerates
// only them, alone and with 1 or 3 threads, matches the honest list bit for bit, so the verdict
// names the cheater and never the honest run. Each check is also shown failing on bad input.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/runner.h"
#include "plume/verify/dispute.h"

namespace plume::verify {
namespace {

constexpr int64_t kFirst = 40;  // the shard's first global prompt index

kernels::ModelConfig Model() { return kernels::ModelConfig{2, 2, 32, 64, 256}; }

const std::vector<float>& Params() {
  static const std::vector<float> params = *kernels::InitialParams(Model(), 9);
  return params;
}

kernels::GenerateConfig Config(int64_t first_index) {
  kernels::GenerateConfig g;
  g.max_new_tokens = 12;
  g.temperature = 0.9f;
  g.top_k = 20;
  g.seed = 31;
  g.first_index = first_index;
  return g;
}

const std::vector<std::string>& Prompts() {
  static const std::vector<std::string> p = {"the sea", "", "a", "hello there", "once upon a time",
                                             "x", "the rain in spain", "zz"};
  return p;
}

std::vector<Digest> Commit(const std::vector<kernels::Completion>& out) {
  std::vector<Digest> c;
  for (const auto& x : out) c.push_back(CompletionHash(x.index, x.completion));
  return c;
}

// The honest shard's list, generated once in one batch.
const std::vector<Digest>& Honest() {
  static const std::vector<Digest> c = [] {
    auto ops = kernels::MakeCpuOps(2);
    auto out = kernels::Generate(Model(), Params(), Prompts(), Config(kFirst), *ops);
    EXPECT_TRUE(out);
    return Commit(*out);
  }();
  return c;
}

// What a referee sends: each planned prompt regenerated alone at its global index.
std::vector<Digest> Referee(const std::vector<uint32_t>& positions, int threads) {
  auto ops = kernels::MakeCpuOps(threads);
  std::vector<Digest> r;
  for (uint32_t i : positions) {
    auto out = kernels::Generate(Model(), Params(), {Prompts()[i]}, Config(kFirst + i), *ops);
    EXPECT_TRUE(out);
    r.push_back(Commit(*out)[0]);
  }
  return r;
}

std::vector<Digest> CheatAt(std::vector<Digest> c, std::initializer_list<size_t> at) {
  for (size_t i : at) c[i][5] ^= 0x33;
  return c;
}

TEST(InferDispute, ThePlanNamesOnlyTheDifferingPromptsAndTheirShare) {
  const auto cheat = CheatAt(Honest(), {3, 6});
  const InferDisputePlan plan = PlanInferDispute(8, Honest(), cheat);
  EXPECT_FALSE(plan.settled);
  EXPECT_EQ(plan.prompts, (std::vector<uint32_t>{3, 6}));
  EXPECT_DOUBLE_EQ(plan.fraction, 2.0 / 8);
  // Equal lists: nothing to narrow (the caller re-runs the whole shard).
  EXPECT_EQ(PlanInferDispute(8, Honest(), Honest()).settled, DisputeVerdict::kNoDispute);
}

TEST(InferDispute, AListOfTheWrongLengthConvictsItsSenderWithoutRecomputing) {
  const std::vector<Digest> short_list(Honest().begin(), Honest().end() - 1);
  EXPECT_EQ(PlanInferDispute(8, short_list, Honest()).settled, DisputeVerdict::kAFaulty);
  EXPECT_EQ(PlanInferDispute(8, Honest(), short_list).settled, DisputeVerdict::kBFaulty);
  EXPECT_EQ(PlanInferDispute(8, short_list, {}).settled, DisputeVerdict::kBothFaulty);
  EXPECT_TRUE(PlanInferDispute(8, short_list, {}).prompts.empty());
}

TEST(InferDispute, ARefereeOfTheDifferingPromptsAloneNamesTheCheaterAtAnyThreadCount) {
  for (int threads : {1, 3}) {
    for (bool cheater_is_a : {false, true}) {
      const auto cheat = CheatAt(Honest(), {3});
      const auto& a = cheater_is_a ? cheat : Honest();
      const auto& b = cheater_is_a ? Honest() : cheat;
      const InferDisputePlan plan = PlanInferDispute(8, a, b);
      ASSERT_EQ(plan.prompts, std::vector<uint32_t>{3});
      EXPECT_DOUBLE_EQ(plan.fraction, 1.0 / 8);
      const auto recomputed = Referee(plan.prompts, threads);
      EXPECT_EQ(recomputed[0], Honest()[3]) << "a prompt alone is what it was in its shard";
      EXPECT_EQ(JudgeCompletions(plan.prompts, recomputed, a, b),
                cheater_is_a ? DisputeVerdict::kAFaulty : DisputeVerdict::kBFaulty)
          << threads << " threads";
    }
  }
}

TEST(InferDispute, ARefereeThatMatchesNeitherOrBothSidesConvictsNobody) {
  // Both cheated, on different prompts: each matches the replay somewhere, neither everywhere.
  const auto a = CheatAt(Honest(), {1}), b = CheatAt(Honest(), {5});
  const InferDisputePlan plan = PlanInferDispute(8, a, b);
  ASSERT_EQ(plan.prompts, (std::vector<uint32_t>{1, 5}));
  EXPECT_EQ(JudgeCompletions(plan.prompts, Referee(plan.prompts, 2), a, b),
            DisputeVerdict::kBothFaulty);
  // A referee that sends the wrong count, a wrong hash or a position outside the lists.
  const auto b3 = CheatAt(Honest(), {3});
  const std::vector<uint32_t> three{3};
  EXPECT_EQ(JudgeCompletions(three, {}, Honest(), b3), DisputeVerdict::kBothFaulty);
  auto wrong = Referee(three, 1);
  wrong[0][9] ^= 1;
  EXPECT_EQ(JudgeCompletions(three, wrong, Honest(), b3), DisputeVerdict::kBothFaulty);
  EXPECT_EQ(JudgeCompletions(std::vector<uint32_t>{8}, Referee(three, 1), Honest(), b3),
            DisputeVerdict::kBothFaulty);
  // A referee of the wrong prompt (index 4's completion sent for position 3) matches neither.
  EXPECT_EQ(JudgeCompletions(three, Referee({4}, 1), Honest(), b3), DisputeVerdict::kBothFaulty);
}

}  // namespace
}  // namespace plume::verify
