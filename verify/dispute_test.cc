// Commitments and disputes with the real CPU kernels on a small GPT: the chain an honest run
// commits to is the same at 1, 2 and 3 threads; a replayed segment reproduces its link bit for bit
// (so an honest provider is never accused, at any segment and any thread count); and a cheater, who
// perturbs the parameters mid-run or skips half the steps, is named by a referee that recomputes
// one segment of the task. Each check is also shown failing on a broken input.
#include "plume/verify/dispute.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "plume/kernels/ops.h"
#include "plume/kernels/runner.h"
#include "plume/kernels/tokenizer.h"

namespace plume::verify {
namespace {

using kernels::TrainState;

constexpr int64_t kSteps = 50;  // H: interval 2, so 25 links

kernels::ModelConfig Model() { return kernels::ModelConfig{2, 2, 32, 32, 256}; }

kernels::TrainConfig Train() {
  kernels::TrainConfig t;
  t.steps = kSteps;
  t.batch = 4;
  t.seq_len = 16;
  t.lr = 3e-3f;
  t.min_lr = 3e-4f;
  t.warmup_steps = 5;
  t.grad_clip = 1.0f;
  t.weight_decay = 0.1f;
  t.seed = 77;
  t.first_step = 100;  // a later DiLoCo round: the schedule does not start at 0
  t.schedule_steps = 400;
  return t;
}

const std::vector<int32_t>& Shard() {
  static const std::vector<int32_t> tokens = [] {
    std::string text;
    for (int i = 0; i < 40; ++i)
      text += "the quick brown fox " + std::to_string(i * 7) + " jumps. ";
    return kernels::EncodeBytes(text);
  }();
  return tokens;
}

const std::vector<float>& RoundParams() {
  static const std::vector<float> params = *kernels::InitialParams(Model(), 5);
  return params;
}

struct Trained {
  std::vector<Digest> chain;
  std::vector<TrainState> kept;  // the state behind each link
  std::vector<float> params;
};

// An honest provider: TrainShard with the commitment hook, keeping every committed state.
Trained Honest(int threads) {
  Trained run;
  ChainRecorder recorder(kSteps, [&](size_t, const TrainState& s) -> kernels::Status {
    run.kept.push_back(s);
    return {};
  });
  auto ops = kernels::MakeCpuOps(threads);
  auto out = kernels::TrainShard(Model(), Train(), RoundParams(), Shard(), {}, *ops, {}, {},
                                 recorder.Hook());
  EXPECT_TRUE(out) << out.error().message;
  run.chain = recorder.links();
  run.params = out->params;
  return run;
}

// A cheater who trains honestly up to `at`, then nudges one parameter and carries on.
std::vector<Digest> Perturbed(int64_t at) {
  ChainRecorder recorder(kSteps);
  auto ops = kernels::MakeCpuOps(1);
  auto mid = kernels::TrainSegment(Model(), Train(), StartState(RoundParams()), 0, at, Shard(),
                                   *ops, recorder.Hook());
  EXPECT_TRUE(mid) << mid.error().message;
  mid->params[123] += 1e-3f;
  auto end =
      kernels::TrainSegment(Model(), Train(), *mid, at, kSteps, Shard(), *ops, recorder.Hook());
  EXPECT_TRUE(end) << end.error().message;
  return recorder.links();
}

// A cheater who runs the first half of the steps and commits the same state for the rest.
std::vector<Digest> Lazy() {
  ChainRecorder recorder(kSteps);
  auto ops = kernels::MakeCpuOps(1);
  auto half = kernels::TrainSegment(Model(), Train(), StartState(RoundParams()), 0, kSteps / 2,
                                    Shard(), *ops, recorder.Hook());
  EXPECT_TRUE(half) << half.error().message;
  std::vector<Digest> chain = recorder.links();
  while (static_cast<int64_t>(chain.size()) < CommitmentLinks(kSteps)) {
    chain.push_back(ChainLink(chain.back(), StateHash(*half)));
  }
  return chain;
}

// The state a referee is handed for the start of the disputed segment, from the honest side.
TrainState AgreedStart(const Trained& honest, size_t link) {
  return link == 0 ? StartState(RoundParams()) : honest.kept[link - 1];
}

const Trained& HonestOnce() {
  static const Trained run = Honest(1);
  return run;
}

TEST(Commitments, AnHonestChainHasOneLinkPerIntervalAndDoesNotChangeTheResult) {
  const Trained& run = HonestOnce();
  ASSERT_EQ(CommitmentInterval(kSteps), 2);
  EXPECT_EQ(run.chain.size(), 25u);
  EXPECT_LE(run.chain.size() * sizeof(Digest), 1024u);
  auto ops = kernels::MakeCpuOps(1);
  auto plain = kernels::TrainShard(Model(), Train(), RoundParams(), Shard(), {}, *ops);
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->params, run.params) << "committing must not change the training";
  EXPECT_EQ(run.kept.back().params, run.params);
  EXPECT_TRUE(StateMatchesLink(run.chain, 24, run.kept.back()));
}

TEST(Commitments, TheChainIsIdenticalAtOneTwoAndThreeThreads) {
  for (int threads : {2, 3}) {
    EXPECT_EQ(Honest(threads).chain, HonestOnce().chain) << threads << " threads";
  }
}

TEST(Commitments, AnOddIntervalStillEndsWithALinkAtTheLastStep) {
  kernels::TrainConfig t = Train();
  t.steps = 7;  // interval 1 for H <= 32: 7 links; H = 70 gives interval 3, last
                // link after 1
  ChainRecorder recorder(t.steps);
  auto ops = kernels::MakeCpuOps(1);
  ASSERT_TRUE(
      kernels::TrainShard(Model(), t, RoundParams(), Shard(), {}, *ops, {}, {}, recorder.Hook()));
  EXPECT_EQ(recorder.links().size(), 7u);
  EXPECT_EQ(LinkSegment(70, 23), (Segment{69, 70}));
  EXPECT_EQ(CommitmentLinks(70), 24);
}

TEST(Commitments, TheRecorderRefusesACommitThatIsNotAtTheEndOfItsSegment) {
  ChainRecorder recorder(kSteps);
  const TrainState s = StartState(RoundParams());
  EXPECT_FALSE(recorder.Hook().fn(3, s)) << "link 0 ends at step 2";
  EXPECT_TRUE(recorder.Hook().fn(2, s));
}

TEST(Referee, AnHonestRunReplayedAtAnySegmentAndThreadCountIsNeverAccused) {
  const Trained& honest = HonestOnce();
  for (int threads : {1, 2, 3}) {
    auto ops = kernels::MakeCpuOps(threads);
    for (size_t link = 0; link < honest.chain.size(); ++link) {
      // A made-up opponent whose chain parts from the honest one at `link`.
      std::vector<Digest> other = honest.chain;
      for (size_t j = link; j < other.size(); ++j) other[j][0] ^= 1;
      const DisputeTask task{Model(), Train(), Shard()};
      auto report = RecomputeSegment(task, honest.chain, other, AgreedStart(honest, link), *ops);
      ASSERT_TRUE(report) << report.error().message;
      EXPECT_EQ(report->verdict, DisputeVerdict::kBFaulty) << "link " << link << ", " << threads;
      EXPECT_EQ(report->link, link);
      EXPECT_EQ(report->segment, LinkSegment(kSteps, link));
      EXPECT_EQ(report->recomputed_link, honest.chain[link]);
    }
  }
}

TEST(Referee, APerturbationAtStep17IsFoundInItsSegmentAndTheCheaterNamed) {
  const Trained& honest = HonestOnce();
  const std::vector<Digest> cheat = Perturbed(17);
  ASSERT_EQ(cheat.size(), honest.chain.size());
  const DisputePlan plan = PlanDispute(kSteps, honest.chain, cheat);
  ASSERT_FALSE(plan.settled);
  EXPECT_EQ(plan.link, 8u) << "step 17 lies in link 8's steps [16, 18)";
  auto ops = kernels::MakeCpuOps(2);
  const DisputeTask task{Model(), Train(), Shard()};
  const TrainState start = AgreedStart(honest, plan.link);
  auto as_b = RecomputeSegment(task, honest.chain, cheat, start, *ops);
  auto as_a = RecomputeSegment(task, cheat, honest.chain, start, *ops);
  ASSERT_TRUE(as_b && as_a);
  EXPECT_EQ(as_b->verdict, DisputeVerdict::kBFaulty);
  EXPECT_EQ(as_a->verdict, DisputeVerdict::kAFaulty);
  EXPECT_EQ(as_b->segment, (Segment{16, 18}));
  EXPECT_LE(as_b->recomputed_fraction, 1.0 / 25 + 1e-12);
  std::printf("perturbation at step 17: link %zu, recomputed %.3f of the task\n", as_b->link,
              as_b->recomputed_fraction);
}

TEST(Referee, SkippingHalfTheStepsIsFoundAtTheFirstSkippedSegment) {
  const Trained& honest = HonestOnce();
  const std::vector<Digest> lazy = Lazy();
  auto ops = kernels::MakeCpuOps(3);
  const DisputeTask task{Model(), Train(), Shard()};
  const DisputePlan plan = PlanDispute(kSteps, honest.chain, lazy);
  EXPECT_EQ(plan.link, 12u) << "links 0-11 end by step 24; link 12 needs steps 24 and 25";
  auto report = RecomputeSegment(task, lazy, honest.chain, AgreedStart(honest, plan.link), *ops);
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->verdict, DisputeVerdict::kAFaulty);
  EXPECT_LE(report->recomputed_fraction, 1.0 / 25 + 1e-12);
}

TEST(Referee, AStartStateThatIsNotTheAgreedOneIsRefusedBeforeAnyReplay) {
  const Trained& honest = HonestOnce();
  const std::vector<Digest> cheat = Perturbed(17);
  auto ops = kernels::MakeCpuOps(1);
  const DisputeTask task{Model(), Train(), Shard()};
  TrainState wrong = AgreedStart(honest, 8);
  wrong.v[0] += 1e-6f;  // moments are committed too
  auto report = RecomputeSegment(task, honest.chain, cheat, wrong, *ops);
  ASSERT_FALSE(report);
  EXPECT_NE(report.error().message.find("not the one both chains commit to"), std::string::npos);
  TrainState moved = StartState(RoundParams());
  moved.m[0] = 1.0f;
  std::vector<Digest> other = honest.chain;
  other[0][0] ^= 1;
  EXPECT_FALSE(RecomputeSegment(task, honest.chain, other, moved, *ops))
      << "segment 0 starts with zero moments";
}

TEST(Referee, AChainOfTheWrongLengthIsSettledWithoutRecomputing) {
  const Trained& honest = HonestOnce();
  std::vector<Digest> short_chain(honest.chain.begin(), honest.chain.begin() + 12);
  DisputePlan plan = PlanDispute(kSteps, honest.chain, short_chain);
  ASSERT_TRUE(plan.settled);
  EXPECT_EQ(*plan.settled, DisputeVerdict::kBFaulty);
  plan = PlanDispute(kSteps, short_chain, short_chain);
  EXPECT_EQ(*plan.settled, DisputeVerdict::kBothFaulty);
  plan = PlanDispute(kSteps, honest.chain, honest.chain);
  EXPECT_EQ(*plan.settled, DisputeVerdict::kNoDispute);
}

TEST(Referee, ASegmentOutsideTheTaskIsAnErrorNotAReplay) {
  auto ops = kernels::MakeCpuOps(1);
  const TrainState start = StartState(RoundParams());
  EXPECT_FALSE(kernels::TrainSegment(Model(), Train(), start, 4, 4, Shard(), *ops));
  EXPECT_FALSE(kernels::TrainSegment(Model(), Train(), start, 0, kSteps + 1, Shard(), *ops));
  EXPECT_FALSE(kernels::TrainSegment(Model(), Train(), start, -1, 2, Shard(), *ops));
  TrainState short_state = start;
  short_state.v.pop_back();
  EXPECT_FALSE(kernels::TrainSegment(Model(), Train(), short_state, 0, 2, Shard(), *ops));
  EXPECT_TRUE(kernels::TrainSegment(Model(), Train(), start, 0, 2, Shard(), *ops));
}

TEST(Referee, JudgeNamesTheSideTheReplayMatches) {
  Digest r{}, x{};
  x[0] = 1;
  EXPECT_EQ(Judge(r, r, x), DisputeVerdict::kBFaulty);
  EXPECT_EQ(Judge(r, x, r), DisputeVerdict::kAFaulty);
  EXPECT_EQ(Judge(r, x, x), DisputeVerdict::kBothFaulty);
  EXPECT_STREQ(Name(DisputeVerdict::kBothFaulty), "both_faulty");
}

TEST(Commitments, StateHashesSeeEveryPartOfTheState) {
  const TrainState s = StartState(RoundParams());
  for (auto part : {&TrainState::params, &TrainState::m, &TrainState::v}) {
    TrainState t = s;
    (t.*part)[7] += 1.0f;
    EXPECT_NE(StateHash(t), StateHash(s));
  }
  EXPECT_EQ(StateHash(s), StateHash(StartState(RoundParams())));
}

TEST(Commitments, CompletionHashesBindTheIndexAndTheText) {
  EXPECT_EQ(CompletionHash(3, "abc"), CompletionHash(3, "abc"));
  EXPECT_NE(CompletionHash(3, "abc"), CompletionHash(4, "abc"));
  EXPECT_NE(CompletionHash(3, "abc"), CompletionHash(3, "abd"));
}

}  // namespace
}  // namespace plume::verify
