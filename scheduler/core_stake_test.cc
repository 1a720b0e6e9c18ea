// Prices and placement that cannot be gamed (issue 10; security review F3, F4), in the core:
// a node under the minimum stake is not placed until its stake rises; reputation weighs in and a
// node under the threshold is not placed; the price is fixed at assignment (the bait-and-switch
// pays the assignment price); prices <= 0 are refused; deadlines come from the spec's FLOPs and
// the operator's floor speed (the 24-hour squat ends at the computed deadline); one provider's
// retryable=false does not fail a job, a second provider's does. The core's indexed placement
// picks what the pure Place() picks, with stake and reputation in play.
#include <algorithm>
#include <gtest/gtest.h>

#include <random>

#include "core_test_util.h"

namespace plume::scheduler {
namespace {

using namespace testing;  // NOLINT: test helpers

TaskSucceeded Success(const SendTaskAssign& a) {
  return TaskSucceeded{a.task, a.attempt, a.node, Blob("out" + a.task), TaskMetrics{1.0, 10, 10}};
}

Config Staked(MicroPlume per_device) {
  Config c = NoAudits();
  c.min_stake_per_device_micro_plume = per_device;
  return c;
}

TEST(CoreStake, UnderTheMinimumStakeANodeIsNotPlacedUntilItsStakeRises) {
  Harness h(Staked(1'000));
  h.Do(AgentRegistered{Agent("a")});  // a CPU agent: one device, 1,000 needed
  NodeInfo gpus = Agent("g", 100, 1'000'000, Backend::kCuda);
  gpus.gpus = {GpuInfo{"H100", 1ULL << 34, 2}, GpuInfo{"A100", 1ULL << 34, 1}};  // 3 devices
  h.Do(AgentRegistered{gpus});
  EXPECT_TRUE(Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)})).empty());
  h.Advance(1'000);
  // Nobody could run it as things stand: the reason names the stake.
  EXPECT_NE(h.JobAt("j").reason.find("stake >= 1000 per device"), std::string::npos)
      << h.JobAt("j").reason;
  EXPECT_TRUE(Only<SendTaskAssign>(h.Do(StakeChanged{"a", 999, 5'000})).empty());  // unbonding
  EXPECT_TRUE(Only<SendTaskAssign>(h.Do(StakeChanged{"g", 2'999, 0})).empty());     // 3 x 1,000
  auto a = Only<SendTaskAssign>(h.Do(StakeChanged{"a", 1'000, 0}));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].node, "a");
  EXPECT_EQ(h.core.state().nodes.at("a").stake_micro_plume, 1'000);
  // Stake falling under the minimum (an unstake) stops new work; the running task stays.
  h.Do(StakeChanged{"a", 0, 1'000});
  h.Do(Success(a[0]));
  auto next = Only<SendTaskAssign>(h.Do(JobSubmitted{"k", "alice", InferSpec(4, 1)}));
  EXPECT_TRUE(next.empty());
  next = Only<SendTaskAssign>(h.Do(StakeChanged{"g", 3'000, 0}));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].node, "g");
}

TEST(CoreStake, StakeIsNamedOnlyWhenItIsWhatKeepsTheJobFromAnyNode) {
  Harness h(Staked(1'000));
  h.Do(AgentRegistered{Agent("a")});
  h.Do(AgentRegistered{Agent("rich")});
  h.Do(StakeChanged{"rich", 1'000, 0});
  ASSERT_EQ(Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)})).size(), 1u);
  h.Do(JobSubmitted{"k", "alice", InferSpec(4, 1)});
  h.now_ms += 1'000;
  h.Do(Heartbeat{"rich", {TaskProgress{"j/s0", 1, 0, 0}}});
  h.Do(Tick{});
  // "rich" could run it, just not now: waiting, not infeasible, and nothing about stake.
  EXPECT_EQ(h.JobAt("k").reason, "waiting for a free node");
  EXPECT_EQ(h.JobAt("k").infeasible_since_ms, -1);
}

TEST(CoreStake, UnderTheReputationThresholdANodeIsNotPlaced) {
  Config c = NoAudits();
  c.min_reputation_ppm = 300'000;
  c.retry_backoff_base_ms = 0;
  Harness h(c);
  h.Do(AgentRegistered{Agent("flaky", 10)});  // half the price of "steady"
  h.Do(AgentRegistered{Agent("steady", 20)});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 2)}));
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(a[0].node, "flaky");
  // Two failures: 1 / 4 = 250,000 < 300,000. It is free, and the cheapest, but gets nothing.
  auto again = Only<SendTaskAssign>(h.Do(TaskFailed{a[0].task, 1, "flaky", "oom"}));
  ASSERT_EQ(again.size(), 1u);
  ASSERT_EQ(again[0].node, "flaky");  // 1/3 = 333,333: still admitted
  h.Do(TaskFailed{again[0].task, 2, "flaky", "oom"});
  EXPECT_LT(ReputationPpm(h.core.state().nodes.at("flaky")), 300'000u);
  EXPECT_TRUE(Only<SendTaskAssign>(h.Advance(0)).empty());
  h.Do(Success(a[1]));  // "steady" is free now and takes it
  EXPECT_EQ(h.TaskAt(a[0].task).node, "steady");
}

TEST(CoreStake, ThePriceIsFixedAtAssignmentAndReRegisteringDoesNotChangeIt) {
  Harness h;
  JobSpec spec = InferSpec(4, 1);
  spec.max_price_micro_plume_per_pflop = 1'000'000'000'000;  // so that the shard earns > 0
  spec.budget_micro_plume = MaxJobCostMicroPlume(spec);
  h.Do(AgentRegistered{Agent("bait", 100'000'000'000)});
  h.Do(AgentRegistered{Agent("honest", 500'000'000'000)});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", spec}));
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].node, "bait");
  EXPECT_EQ(h.TaskAt("j/s0").price_micro_plume_per_pflop, 100'000'000'000);
  // The switch: the same key re-registers at the job's maximum (and beyond) while holding it.
  h.Do(AgentRegistered{Agent("bait", INT64_MAX)});
  EXPECT_EQ(h.TaskAt("j/s0").state, TaskState::kAssigned);  // it keeps the task...
  h.Do(Success(a[0]));
  // Its new price counts for new work, where it now loses to the honest provider.
  auto b = Only<SendTaskAssign>(h.Do(JobSubmitted{"k", "alice", spec}));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].node, "honest");
  h.Advance(kChallengeWindowMsDefault);
  const MicroPlume want = PayMicroPlume(h.TaskAt("j/s0").flops, 100'000'000'000);
  ASSERT_GT(want, 0);
  std::vector<LedgerOp> settles;
  for (const LedgerOp& op : h.ledger) {
    if (op.kind == LedgerOpKind::kSettle) settles.push_back(op);
  }
  ASSERT_EQ(settles.size(), 1u);
  EXPECT_EQ(settles[0].amount_micro_plume, want);  // ...at the price it was assigned at
  EXPECT_EQ(h.TaskAt("j/s0").paid_micro_plume, want);
  EXPECT_EQ(h.JobAt("j").paid_micro_plume, want);
}

TEST(CoreStake, PricesOfZeroOrLessAreRefused) {
  Harness h;
  for (MicroPlume price : {MicroPlume{0}, MicroPlume{-1}, INT64_MIN}) {
    auto acts = h.Do(AgentRegistered{Agent("free", price)});
    auto rejected = Only<Rejected>(acts);
    ASSERT_EQ(rejected.size(), 1u) << price;
    EXPECT_EQ(rejected[0].to, "free");
    EXPECT_NE(rejected[0].reason.find("must be > 0"), std::string::npos);
    EXPECT_FALSE(h.core.state().nodes.contains("free"));
  }
  // A registered node that re-registers at 0 keeps its last price (and gets no lease renewal).
  h.Do(AgentRegistered{Agent("a", 50)});
  EXPECT_EQ(Only<Rejected>(h.Do(AgentRegistered{Agent("a", 0)})).size(), 1u);
  EXPECT_EQ(h.core.state().nodes.at("a").info.price_micro_plume_per_pflop, 50);
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(h.TaskAt("j/s0").price_micro_plume_per_pflop, 50);
}

TEST(CoreStake, TheDeadlineComesFromTheSpecAndTheFloorSpeedNotTheAgentsClaim) {
  const JobSpec spec = InferSpec(4, 1);
  Config c = NoAudits();
  // About 100 s at the floor, so a deadline of about 1,000 s (factor 10), computed the core's way
  // (integers) from whatever the spec's FLOPs are.
  c.floor_flops_per_s = std::max<uint64_t>(1, TaskFlops(spec, 0) / 100);
  c.task_deadline_min_ms = 1'000;
  const int64_t deadline = static_cast<int64_t>(TaskFlops(spec, 0) * 1000 / c.floor_flops_per_s) *
                           c.task_deadline_factor;
  ASSERT_LT(deadline, c.task_deadline_max_ms);
  Harness h(c);
  // The squatter claims no speed: before, that bought it the 24-hour maximum.
  h.Do(AgentRegistered{Agent("squat", 1, 0)});
  ASSERT_EQ(Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", spec})).size(), 1u);
  const int64_t assigned_ms = h.TaskAt("j/s0").assigned_at_ms;
  for (int64_t t = 3'000; t < deadline; t += 3'000) {
    h.now_ms = assigned_ms + t;
    h.Do(Heartbeat{"squat", {TaskProgress{"j/s0", 1, 0, 0}}});  // "still running"
    h.Do(Tick{});
  }
  ASSERT_EQ(h.TaskAt("j/s0").attempt, 1u);
  h.now_ms = assigned_ms + deadline;
  h.Do(Heartbeat{"squat", {TaskProgress{"j/s0", 1, 0, 0}}});
  auto cancels = Only<SendTaskCancel>(h.Do(Tick{}));
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0].node, "squat");
  EXPECT_EQ(h.TaskAt("j/s0").attempt, 2u);  // requeued at the computed deadline
  EXPECT_EQ(h.core.state().nodes.at("squat").tasks_failed, 1u);  // reputation, no slash
  for (const LedgerOp& op : h.ledger) EXPECT_NE(op.kind, LedgerOpKind::kSlash);
}

TEST(CoreStake, AnAttemptPastItsDeadlineIsTakenFromAHungNodeThatStillHeartbeats) {
  Config c = testing::NoAudits();
  c.task_deadline_factor = 10;
  c.task_deadline_min_ms = 1'000;
  c.task_deadline_max_ms = 50'000;
  const JobSpec spec = InferSpec(4, 1);
  // The operator's floor speed makes the task's expected time exactly 2 s: deadline 20 s.
  c.floor_flops_per_s = TaskFlops(spec, 0) / 2;
  Harness h(c);
  h.Do(AgentRegistered{Agent("a", 100, TaskFlops(spec, 0) * 1000)});  // claims 1000x the floor
  ASSERT_EQ(Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", spec})).size(), 1u);
  for (int i = 0; i < 6; ++i) {  // 18 s of heartbeats that hold the task: still its
    h.now_ms += 3'000;
    h.Do(Heartbeat{"a", {TaskProgress{"j/s0", 1, 0, 0}}});
    h.Do(Tick{});
  }
  EXPECT_EQ(h.TaskAt("j/s0").state, TaskState::kAssigned);
  h.now_ms += 1'999;
  h.Do(Heartbeat{"a", {TaskProgress{"j/s0", 1, 0, 0}}});
  EXPECT_TRUE(Only<SendTaskCancel>(h.Do(Tick{})).empty());
  auto acts = h.Advance(1);  // 20 s after the assignment
  auto cancels = Only<SendTaskCancel>(acts);
  ASSERT_EQ(cancels.size(), 1u);
  EXPECT_EQ(cancels[0].node, "a");
  EXPECT_EQ(h.TaskAt("j/s0").attempt, 2u);
  EXPECT_EQ(h.core.state().nodes.at("a").tasks_failed, 1u);
  // A node that claims no speed at all gets the same 20 s, not the maximum (F4's squat).
  h.Do(AgentRegistered{Agent("b", 100, 0)});
  h.Advance(kRetryBackoffBaseMsDefault);
  ASSERT_EQ(h.TaskAt("j/s0").state, TaskState::kAssigned);
  ASSERT_EQ(h.TaskAt("j/s0").node, "b");  // "a" failed once: "b" has the better record
  const int64_t assigned_ms = h.TaskAt("j/s0").assigned_at_ms;
  for (int64_t t = 3'000; t < 20'000; t += 3'000) {
    h.now_ms = assigned_ms + t;
    h.Do(Heartbeat{"b", {TaskProgress{"j/s0", 2, 0, 0}}});
    h.Do(Heartbeat{"a", {}});
    h.Do(Tick{});
  }
  EXPECT_EQ(h.TaskAt("j/s0").attempt, 2u);
  h.now_ms = assigned_ms + 20'000;
  h.Do(Tick{});
  EXPECT_EQ(h.TaskAt("j/s0").attempt, 3u);
}

TEST(CoreStake, OneProvidersRetryableFalseRequeuesElsewhereASecondOneFailsTheJob) {
  Harness h;
  h.Do(AgentRegistered{Agent("killer", 10)});
  h.Do(AgentRegistered{Agent("b", 20)});
  h.Do(AgentRegistered{Agent("c", 30)});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(a[0].node, "killer");
  auto next = Only<SendTaskAssign>(h.Do(TaskFailed{a[0].task, 1, "killer", "bad data", false}));
  EXPECT_EQ(h.JobAt("j").state, JobState::kRunning);  // one claim does not kill the job
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].node, "b");  // at once (no backoff), and never back to the claimant
  EXPECT_EQ(h.TaskAt("j/s0").nonretryable_from, std::set<NodeId>{"killer"});
  // The same claimant again, on a stale attempt: ignored.
  h.Do(TaskFailed{a[0].task, 1, "killer", "bad data", false});
  EXPECT_EQ(h.JobAt("j").state, JobState::kRunning);
  // An ordinary failure on b goes back to the queue, but not to the claimant.
  h.Do(TaskFailed{next[0].task, 2, "b", "oom", true});
  auto third = Only<SendTaskAssign>(h.Advance(2 * kRetryBackoffBaseMsDefault));
  ASSERT_EQ(third.size(), 1u);
  EXPECT_NE(third[0].node, "killer");
  // A second, different provider says the same: now the task is the problem.
  h.Do(TaskFailed{third[0].task, third[0].attempt, third[0].node, "bad data", false});
  EXPECT_EQ(h.JobAt("j").state, JobState::kFailed);
  EXPECT_NE(h.JobAt("j").reason.find("2 providers of 2 owners say so"), std::string::npos) << h.JobAt("j").reason;
  EXPECT_EQ(h.ledger.back().kind, LedgerOpKind::kRelease);
}

// The claimant is the only provider: its claim does not fail the job (whoever grabs a task first
// on a quiet network could kill any job so); the task waits, never going back to the claimant,
// and the next provider to come runs it.
TEST(CoreStake, ALoneProvidersRetryableFalseLeavesTheTaskWaitingForAnother) {
  Harness h;
  h.Do(AgentRegistered{Agent("killer", 10)});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(Only<SendTaskAssign>(h.Do(TaskFailed{a[0].task, 1, "killer", "bad data", false}))
                  .empty());
  EXPECT_EQ(h.JobAt("j").state, JobState::kRunning);
  EXPECT_TRUE(Only<SendTaskAssign>(h.Advance(10 * kRetryBackoffBaseMsDefault)).empty());
  auto next = Only<SendTaskAssign>(h.Do(AgentRegistered{Agent("b", 20)}));
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].node, "b");
}

// The core's free-node index and the pure Place() pick the same node, with prices, records and
// stakes all in play (the index key is Prefer's order; admission decides index membership).
TEST(CoreStake, IndexedPlacementPicksWhatPlacePicks) {
  std::mt19937_64 rng(5);
  auto r = [&rng](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int trial = 0; trial < 300; ++trial) {
    Config c = Staked(r(0, 1) * 100);
    c.min_reputation_ppm = static_cast<uint32_t>(r(0, 400'000));
    State s;
    const int n = static_cast<int>(r(1, 12));
    for (int i = 0; i < n; ++i) {
      Node node;
      node.info = Agent("n" + std::to_string(i), r(1, 6) * 10, static_cast<uint64_t>(r(0, 3)));
      node.lease_expires_ms = 1LL << 50;
      node.tasks_succeeded = static_cast<uint64_t>(r(0, 6));
      node.tasks_failed = static_cast<uint64_t>(r(0, 6));
      node.stake_micro_plume = r(0, 2) * 60;
      if (r(0, 9) == 0) node.state = NodeState::kDraining;
      s.nodes[node.info.id] = node;
    }
    Core core(c, s);
    std::vector<const Node*> nodes;
    for (const auto& [id, node] : core.state().nodes) nodes.push_back(&node);
    const JobSpec spec = InferSpec(4, 1);
    const Placement want =
        Place(NeedsOf(spec), nodes, {},
              Admission{c.min_stake_per_device_micro_plume, c.min_reputation_ppm});
    core.Handle(1000, JobSubmitted{"j", "alice", spec});
    auto got = Only<SendTaskAssign>(core.Handle(1000, LedgerApplied{"hold:j"}));
    if (want.outcome == PlacementOutcome::kPlaced) {
      ASSERT_EQ(got.size(), 1u) << "trial " << trial;
      EXPECT_EQ(got[0].node, want.node) << "trial " << trial;
    } else {
      EXPECT_TRUE(got.empty()) << "trial " << trial << ": " << got[0].node;
    }
  }
}

}  // namespace
}  // namespace plume::scheduler
