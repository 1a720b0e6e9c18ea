// Placement as a pure function: filters (backend, memory, selftest, price, state, load,
// exclusion), preference (price, then reputation, then speed, then id) and the kRetryLater /
// kInfeasible split.
// Also checks spec validation and the work/cost arithmetic placement and billing rely on.
#include "plume/scheduler/placement.h"

#include <gtest/gtest.h>

#include "core_test_util.h"
#include "plume/kernels/flops.h"
#include "plume/ledger/amount.h"
#include "plume/scheduler/work.h"

namespace plume::scheduler {
namespace {

using testing::Agent;

Node MakeNode(NodeInfo info, NodeState state = NodeState::kActive) {
  Node n;
  n.info = std::move(info);
  n.state = state;
  return n;
}

Placement PlaceAmong(const TaskNeeds& needs, const std::vector<Node>& nodes,
                     const std::set<NodeId>& excluded = {}) {
  std::vector<const Node*> ptrs;
  for (const Node& n : nodes) ptrs.push_back(&n);
  return Place(needs, ptrs, excluded);
}

const TaskNeeds kSmall{1 << 20, std::nullopt, 1000};

TEST(Placement, PrefersLowerPriceThenHigherSpeedThenId) {
  std::vector<Node> nodes = {MakeNode(Agent("c", 200, 9)), MakeNode(Agent("b", 100, 5)),
                             MakeNode(Agent("a", 100, 5)), MakeNode(Agent("d", 100, 7))};
  EXPECT_EQ(PlaceAmong(kSmall, nodes).node, "d");  // cheapest tier, fastest
  nodes[3].tasks.insert("busy");
  EXPECT_EQ(PlaceAmong(kSmall, nodes).node, "a");  // tie on price and speed: lowest id
  // The order of the input does not matter.
  std::reverse(nodes.begin(), nodes.end());
  EXPECT_EQ(PlaceAmong(kSmall, nodes).node, "a");
}

TEST(Placement, ReputationIsALaplaceSmoothedSuccessRatio) {
  Node n = MakeNode(Agent("a"));
  EXPECT_EQ(ReputationPpm(n), 500'000u);  // no record: neither trusted nor distrusted
  n.tasks_succeeded = 8;
  EXPECT_EQ(ReputationPpm(n), 900'000u);  // 9 / 10
  n.tasks_failed = 1;
  n.tasks_lost = 1;
  EXPECT_EQ(ReputationPpm(n), 750'000u);  // 9 / 12
  n.tasks_succeeded = UINT64_MAX - 10;     // no overflow on absurd counts
  EXPECT_LE(ReputationPpm(n), 1'000'000u);
  EXPECT_GT(ReputationPpm(n), 999'000u);
}

TEST(Placement, PrefersLowerPriceOverReputationThenReputationThenSpeedThenId) {
  std::vector<Node> nodes = {MakeNode(Agent("a", 100, 9)), MakeNode(Agent("b", 100, 5)),
                             MakeNode(Agent("c", 90, 1)), MakeNode(Agent("d", 100, 5))};
  nodes[0].tasks_failed = 3;     // fast but unreliable: 1/5
  nodes[1].tasks_succeeded = 4;  // 5/6
  // Cheaper but with a poor record, 1/12: 90 / (1/12) = 1080 against b's 100 / (5/6) = 120.
  // Reputation weighs in, not only as a tie-break (F4).
  nodes[2].tasks_lost = 10;
  EXPECT_EQ(PlaceAmong(kSmall, nodes).node, "b");
  nodes[2].tasks_lost = 0;  // the same price cut with a fresh record (1/2: 180) still loses
  EXPECT_EQ(PlaceAmong(kSmall, nodes).node, "b");
  nodes[2].info.price_micro_plume_per_pflop = 59;  // 59 / (1/2) = 118 < 120: now it wins
  EXPECT_EQ(PlaceAmong(kSmall, nodes).node, "c");
  nodes[2].tasks.insert("busy");
  EXPECT_EQ(PlaceAmong(kSmall, nodes).node, "b");  // better record beats more speed
  nodes[3].tasks_succeeded = 4;
  EXPECT_EQ(PlaceAmong(kSmall, nodes).node, "b");  // same price and record: speed, then id
  nodes[3].info.flops_per_s = 6;
  EXPECT_EQ(PlaceAmong(kSmall, nodes).node, "d");
  EXPECT_TRUE(Prefer(nodes[1], nodes[0]));
  EXPECT_FALSE(Prefer(nodes[0], nodes[1]));
}

TEST(Placement, FiltersBackendMemorySelftestPriceAndState) {
  NodeInfo failed = Agent("failed", 1);
  failed.selftest_passed = false;
  std::vector<Node> nodes = {MakeNode(failed),
                             MakeNode(Agent("pricey", 5000)),
                             MakeNode(Agent("small", 1, 1, Backend::kCpu, 1024)),
                             MakeNode(Agent("draining", 1), NodeState::kDraining),
                             MakeNode(Agent("lost", 1), NodeState::kLost),
                             MakeNode(Agent("gpu", 50, 1, Backend::kCuda)),
                             MakeNode(Agent("cpu", 60))};
  EXPECT_EQ(PlaceAmong(kSmall, nodes).node, "gpu");
  TaskNeeds cpu_only = kSmall;
  cpu_only.backend = Backend::kCpu;
  EXPECT_EQ(PlaceAmong(cpu_only, nodes).node, "cpu");
  EXPECT_EQ(PlaceAmong(kSmall, nodes, {"gpu"}).node, "cpu");
}

TEST(Placement, RetryLaterWhenFittingNodesAreBusy) {
  std::vector<Node> nodes = {MakeNode(Agent("a")), MakeNode(Agent("b"))};
  nodes[0].tasks.insert("t1");
  nodes[1].tasks.insert("t2");
  const Placement p = PlaceAmong(kSmall, nodes);
  EXPECT_EQ(p.outcome, PlacementOutcome::kRetryLater);
  EXPECT_TRUE(p.node.empty());
}

TEST(Placement, InfeasibleWhenNoActiveNodeCouldEverRunIt) {
  std::vector<Node> nodes = {MakeNode(Agent("small", 1, 1, Backend::kCpu, 1024)),
                             MakeNode(Agent("big-but-draining"), NodeState::kDraining)};
  const Placement p = PlaceAmong(kSmall, nodes);
  EXPECT_EQ(p.outcome, PlacementOutcome::kInfeasible);
  EXPECT_FALSE(p.reason.empty());
  EXPECT_EQ(PlaceAmong(kSmall, {}).outcome, PlacementOutcome::kInfeasible);
}

TEST(Placement, GpuMemoryIsTheSmallestDevice) {
  NodeInfo info = Agent("g", 1, 1, Backend::kCuda);
  info.gpus = {GpuInfo{"A", 80ULL << 30, 2}, GpuInfo{"B", 24ULL << 30, 1}};
  EXPECT_EQ(UsableMemoryBytes(info), 24ULL << 30);
}

TEST(Work, PayRoundsDownLikeTheLedgerAndValidationNamesTheField) {
  EXPECT_EQ(PayMicroPlume(1'000'000'000'000'000ULL, 7), 7);
  EXPECT_EQ(PayMicroPlume(1, 7), 0);
  EXPECT_EQ(PayMicroPlume(0, 7), 0);
  EXPECT_EQ(PayMicroPlume(1'000'000'000'000'000ULL, 0), 0);
  JobSpec s = testing::TrainSpec(2, 3);
  EXPECT_TRUE(ValidateSpec(s).has_value());
  s.model.n_head = 3;
  auto st = ValidateSpec(s);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message.find("n_head"), std::string::npos);
  s = testing::TrainSpec(2, 3);
  s.budget_micro_plume -= 1;
  st = ValidateSpec(s);
  ASSERT_FALSE(st.has_value());
  EXPECT_NE(st.error().message.find("budget"), std::string::npos);
  s = testing::InferSpec(3, 4);
  EXPECT_FALSE(ValidateSpec(s).has_value());  // more shards than prompts
}

// The scheduler bills with kernels/flops.h, the rule the agent signs with.
TEST(Work, TaskFlopsAreTheKernelsBillingRule) {
  JobSpec t = testing::TrainSpec(3, 2);
  const kernels::ModelConfig model{static_cast<int>(t.model.n_layer),
                                   static_cast<int>(t.model.n_head),
                                   static_cast<int>(t.model.n_embd),
                                   static_cast<int>(t.model.context),
                                   static_cast<int>(t.model.vocab)};
  const int64_t train = kernels::TrainFlops(model, static_cast<int>(t.train.seq_len),
                                            t.train.batch, t.train.local_steps);
  for (uint32_t w = 0; w < 3; ++w) EXPECT_EQ(TaskFlops(t, w), static_cast<uint64_t>(train));
  EXPECT_EQ(JobFlops(t), static_cast<uint64_t>(train) * 3 * 2);

  // Inference: each prompt at its own length; 5 prompts in 2 shards are [0,1,2] and [3,4].
  JobSpec i = testing::InferSpec(5, 2);
  i.infer.prompt_tokens = {1, 7, 3, 8, 2};
  const int64_t n = i.infer.max_new_tokens;
  const std::vector<int64_t> first = {1, 7, 3}, second = {8, 2};
  EXPECT_EQ(TaskFlops(i, 0), static_cast<uint64_t>(kernels::InferTaskFlops(model, first, n)));
  EXPECT_EQ(TaskFlops(i, 1), static_cast<uint64_t>(kernels::InferTaskFlops(model, second, n)));
  EXPECT_EQ(kernels::InferTaskFlops(model, first, n),
            kernels::GenerationFlops(model, 1, n) + kernels::GenerationFlops(model, 7, n) +
                kernels::GenerationFlops(model, 3, n));
  // Without per-prompt counts (older stored jobs) every prompt is billed at the longest.
  i.infer.prompt_tokens.clear();
  i.infer.prompt_tokens_max = 8;
  EXPECT_EQ(TaskFlops(i, 1), 2 * static_cast<uint64_t>(kernels::GenerationFlops(model, 8, n)));
  EXPECT_EQ(kernels::PromptTokens(""), 1);
  EXPECT_EQ(kernels::PromptTokens("abc"), 3);
}

// The hold covers every settle: per task CostWithFee at the maximum price, the ledger's
// rounding, so any price at or under the maximum pays out no more than was held.
TEST(Work, MaxJobCostCoversEverySettleAtAnyAllowedPrice) {
  JobSpec s = testing::InferSpec(7, 3);
  s.infer.prompt_tokens = {3, 1, 8, 8, 2, 5, 4};
  s.fee_bps = 750;
  s.max_price_micro_plume_per_pflop = 123'456'789'000;
  int64_t at_max = 0;
  for (uint32_t shard = 0; shard < 3; ++shard) {
    at_max += ledger::CostWithFee(123'456'789'000, TaskFlops(s, shard), 750)->value();
  }
  EXPECT_EQ(MaxJobCostMicroPlume(s), at_max);
  for (uint64_t price : {1ULL, 99'999ULL, 123'456'788'999ULL}) {
    int64_t paid = 0;
    for (uint32_t shard = 0; shard < 3; ++shard) {
      paid += ledger::CostWithFee(price, TaskFlops(s, shard), 750)->value();
    }
    EXPECT_LE(paid, MaxJobCostMicroPlume(s)) << "price " << price;
  }
  // The fee is part of the maximum cost.
  const MicroPlume with_fee = MaxJobCostMicroPlume(s);
  s.fee_bps = 0;
  EXPECT_LT(MaxJobCostMicroPlume(s), with_fee);
}

TEST(Work, ParamCountMatchesGpt2Small) {
  // GPT-2 small: 12 layers, width 768, context 1024, vocab 50257 -> 124,439,808 parameters.
  EXPECT_EQ(ParamCount(ModelConfig{12, 12, 768, 1024, 50257}), 124'439'808u);
}

TEST(Work, PromptShardsCoverEveryPromptOnce) {
  uint32_t total = 0;
  for (uint32_t s = 0; s < 4; ++s) total += PromptsInShard(10, 4, s);
  EXPECT_EQ(total, 10u);
  EXPECT_EQ(PromptsInShard(10, 4, 0), 3u);
  EXPECT_EQ(PromptsInShard(10, 4, 3), 2u);
}

// Tokens/s of an infer job: succeeded shards' tokens over the span from the first assignment to
// the last result (two shards overlapping in time count once), others ignored.
TEST(Work, InferTokensPerSecIsMeasuredOverTheSucceededShards) {
  Task a, b, running;
  a.state = b.state = TaskState::kSucceeded;
  a.assigned_at_ms = 1'000, a.finished_at_ms = 3'000, a.metrics.tokens = 300;
  b.assigned_at_ms = 2'000, b.finished_at_ms = 5'000, b.metrics.tokens = 500;
  running.state = TaskState::kAssigned, running.assigned_at_ms = 0, running.metrics.tokens = 9;
  const std::vector<const Task*> all = {&a, &b, &running};
  EXPECT_DOUBLE_EQ(InferTokensPerSec(all), 800.0 / 4.0);
  const std::vector<const Task*> one = {&a};
  EXPECT_DOUBLE_EQ(InferTokensPerSec(one), 150.0);
  const std::vector<const Task*> none = {&running};
  EXPECT_EQ(InferTokensPerSec(none), 0.0);
  a.finished_at_ms = a.assigned_at_ms;  // no time passed: no rate rather than infinity
  EXPECT_EQ(InferTokensPerSec(one), 0.0);
}

}  // namespace
}  // namespace plume::scheduler
