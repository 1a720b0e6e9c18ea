// A result refused by the screens (TaskRefused): never settled, counted on the provider's record
// (and persisted), the task goes to another provider and never back to the refused one, and the
// job still completes on honest work. Many refusals of one task fail its job; one never does.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core_test_util.h"
#include "plume/scheduler/store.h"

namespace plume::scheduler {
namespace {

using testing::Agent;
using testing::Blob;
using testing::Harness;
using testing::Only;

bool Settled(const Harness& h, const TaskId& task, const NodeId& node) {
  return std::any_of(h.ledger.begin(), h.ledger.end(), [&](const LedgerOp& op) {
    return op.kind == LedgerOpKind::kSettle && op.task == task && op.node == node;
  });
}

// Where a task is assigned now (empty: queued or done).
NodeId AssignedTo(const Harness& h, const TaskId& id) {
  const Task& t = h.TaskAt(id);
  return t.state == TaskState::kAssigned ? t.node : NodeId{};
}

TEST(CoreRefusal, RefusedDeltaIsNotPaidAndTheRoundCompletesOnAnotherProvider) {
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  h.Do(AgentRegistered{Agent("b")});
  h.Do(JobSubmitted{"j", "team", testing::TrainSpec(2, 1)});
  const TaskId w0 = "j/r0/w0", w1 = "j/r0/w1";
  const NodeId cheat = AssignedTo(h, w0), honest = AssignedTo(h, w1);
  ASSERT_FALSE(cheat.empty());
  ASSERT_FALSE(honest.empty());
  ASSERT_NE(cheat, honest);

  h.Do(TaskRefused{w0, 1, cheat, Blob("zeros"), "zero_delta", "every parameter delta is zero"});
  EXPECT_FALSE(Settled(h, w0, cheat));
  EXPECT_EQ(h.core.state().nodes.at(cheat).tasks_refused, 1u);
  EXPECT_EQ(h.core.state().nodes.at(cheat).tasks_succeeded, 0u);
  const Task& again = h.TaskAt(w0);
  EXPECT_EQ(again.attempt, 2u);
  EXPECT_TRUE(again.excluded.contains(cheat));
  // The refused provider is free, yet the task waits for another one.
  EXPECT_EQ(again.state, TaskState::kQueued);
  h.Advance(1'000);
  EXPECT_EQ(h.TaskAt(w0).state, TaskState::kQueued);

  // A stale copy of the refused result changes nothing.
  h.Do(TaskSucceeded{w0, 1, cheat, Blob("zeros"), {}});
  EXPECT_FALSE(Settled(h, w0, cheat));

  h.Do(TaskSucceeded{w1, 1, honest, Blob("d1"), {}});
  ASSERT_EQ(AssignedTo(h, w0), honest) << "the freed honest provider takes the refused task";
  auto acts = h.Do(TaskSucceeded{w0, 2, honest, Blob("d0"), {}});
  auto agg = Only<AggregateRound>(acts);
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_EQ(agg[0].deltas.size(), 2u);
  EXPECT_EQ(std::count(agg[0].deltas.begin(), agg[0].deltas.end(), Blob("zeros")), 0);
  h.Do(RoundAggregated{"j", 0, Blob("params1")});
  EXPECT_EQ(h.JobAt("j").state, JobState::kSucceeded);
  h.Advance(kChallengeWindowMsDefault);  // unaudited results are paid after the window
  EXPECT_TRUE(Settled(h, w0, honest));
  EXPECT_TRUE(Settled(h, w1, honest));
  for (const LedgerOp& op : h.ledger) EXPECT_NE(op.node, cheat) << op.id;
}

TEST(CoreRefusal, RefusedShardWaitsForANewProviderAndRefusalsDoNotUseUpRetries) {
  Config config = testing::NoAudits();
  config.max_attempts = 2;
  Harness h(config);
  h.Do(AgentRegistered{Agent("a")});
  h.Do(JobSubmitted{"g", "team", testing::InferSpec(4, 1)});
  const TaskId s0 = "g/s0";
  ASSERT_EQ(AssignedTo(h, s0), "a");
  h.Do(TaskRefused{s0, 1, "a", Blob("junk"), "malformed", "line 1 is not a JSON object"});
  h.Advance(60'000);
  EXPECT_EQ(h.TaskAt(s0).state, TaskState::kQueued);
  EXPECT_EQ(h.JobAt("g").state, JobState::kRunning);
  h.Do(AgentRegistered{Agent("b")});
  ASSERT_EQ(AssignedTo(h, s0), "b");
  // An ordinary failure after the refusal is retried: the refusal took no retry away.
  h.Do(TaskFailed{s0, 2, "b", "out of memory", true});
  EXPECT_NE(h.JobAt("g").state, JobState::kFailed);
  h.Advance(5'000);
  ASSERT_EQ(AssignedTo(h, s0), "b");
  h.Do(TaskSucceeded{s0, 3, "b", Blob("out"), {}});
  EXPECT_EQ(h.JobAt("g").state, JobState::kSucceeded);
  h.Advance(kChallengeWindowMsDefault);
  EXPECT_TRUE(Settled(h, s0, "b"));
  EXPECT_FALSE(Settled(h, s0, "a"));
}

TEST(CoreRefusal, EveryProviderRefusedFailsTheJobWithTheReason) {
  Harness h;
  h.Do(JobSubmitted{"g", "team", testing::InferSpec(1, 1)});
  for (uint32_t i = 0; i < kRefusedResultsPerTaskMax; ++i) {
    const NodeId n = "n" + std::to_string(i);
    h.Do(AgentRegistered{Agent(n)});
    ASSERT_EQ(AssignedTo(h, "g/s0"), n);
    h.Do(TaskRefused{"g/s0", i + 1, n, Blob("junk"), "malformed", "not JSON"});
  }
  EXPECT_EQ(h.JobAt("g").state, JobState::kFailed);
  EXPECT_NE(h.JobAt("g").reason.find("refused"), std::string::npos) << h.JobAt("g").reason;
}

TEST(CoreRefusal, RefusalsAndExclusionsSurviveARestart) {
  const auto db = std::filesystem::temp_directory_path() /
                  ("plume-refusal-" + std::to_string(::getpid()) + ".db");
  std::filesystem::remove(db);
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  h.Do(JobSubmitted{"g", "team", testing::InferSpec(4, 1)});
  h.Do(TaskRefused{"g/s0", 1, "a", Blob("junk"), "malformed", "not JSON"});
  {
    auto store = Store::Open(db);
    ASSERT_TRUE(store) << store.error().message;
    ASSERT_TRUE(store->Save(h.core.TakeDirty()));
  }
  auto store = Store::Open(db);
  ASSERT_TRUE(store) << store.error().message;
  auto loaded = store->Load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded->nodes.at("a").tasks_refused, 1u);
  EXPECT_EQ(loaded->tasks.at("g/s0").excluded, std::set<NodeId>{"a"});
  Core again(testing::NoAudits(), std::move(*loaded));
  again.Handle(h.now_ms + 1, Tick{});
  EXPECT_EQ(again.state().tasks.at("g/s0").state, TaskState::kQueued);
  std::filesystem::remove(db);
}

}  // namespace
}  // namespace plume::scheduler
