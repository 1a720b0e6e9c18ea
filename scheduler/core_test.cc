// Scheduler core driven by a fake clock, no sockets: leases, retries with backoff, DiLoCo
// rounds, lost workers, cancellation, duplicate results, inference sharding, infeasible jobs,
// drain, heartbeat reconciliation and the escrow hold gate.
#include "plume/scheduler/core.h"

#include <gtest/gtest.h>

#include "core_test_util.h"

namespace plume::scheduler {
namespace {

using namespace testing;  // NOLINT: test helpers

TaskSucceeded Success(const SendTaskAssign& a, const std::string& tag = "out") {
  return TaskSucceeded{a.task, a.attempt, a.node, Blob(tag + a.task), TaskMetrics{1.0, 10, 10}};
}

TEST(Core, LeaseExpiryRequeuesTasksAndIgnoresTheLostAttempt) {
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  auto acts = h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)});
  auto assigns = Only<SendTaskAssign>(acts);
  ASSERT_EQ(assigns.size(), 1u);
  EXPECT_EQ(assigns[0].node, "a");
  EXPECT_EQ(h.JobAt("j").state, JobState::kRunning);

  h.Advance(kLeaseMsDefault - 1);  // lease still valid
  EXPECT_EQ(h.TaskAt("j/s0").state, TaskState::kAssigned);
  h.Advance(1);  // expired: node lost, task back in the queue with attempt 2
  EXPECT_EQ(h.core.state().nodes.at("a").state, NodeState::kLost);
  EXPECT_EQ(h.TaskAt("j/s0").state, TaskState::kQueued);
  EXPECT_EQ(h.TaskAt("j/s0").attempt, 2u);

  acts = h.Do(AgentRegistered{Agent("b")});
  assigns = Only<SendTaskAssign>(acts);
  ASSERT_EQ(assigns.size(), 1u);
  EXPECT_EQ(assigns[0].node, "b");
  EXPECT_EQ(assigns[0].attempt, 2u);

  // The lost node's late result for attempt 1 is neither counted nor paid.
  h.Do(TaskSucceeded{"j/s0", 1, "a", Blob("late"), {}});
  EXPECT_EQ(h.TaskAt("j/s0").state, TaskState::kAssigned);
  h.Do(Success(assigns[0]));
  EXPECT_EQ(h.JobAt("j").state, JobState::kSucceeded);
  EXPECT_EQ(h.TaskAt("j/s0").node, "b");
}

TEST(Core, HeartbeatsKeepTheLease) {
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  auto assigns = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  for (int i = 0; i < 20; ++i) {
    h.now_ms += 3000;
    h.Do(Heartbeat{"a", {TaskProgress{"j/s0", 1, static_cast<uint64_t>(i), 2.5}}});
    h.Do(Tick{});
  }
  EXPECT_EQ(h.TaskAt("j/s0").state, TaskState::kAssigned);
  EXPECT_EQ(h.TaskAt("j/s0").progress_step, 19u);
  EXPECT_EQ(h.core.state().nodes.at("a").state, NodeState::kActive);
}

TEST(Core, RetryWithExponentialBackoffThenFailAfterMaxAttempts) {
  Config c = testing::NoAudits();
  c.max_attempts = 3;
  c.retry_backoff_base_ms = 1000;
  Harness h(c);
  h.Do(AgentRegistered{Agent("a")});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(Only<SendTaskAssign>(h.Do(TaskFailed{"j/s0", 1, "a", "oom"})).empty());
  EXPECT_TRUE(Only<SendTaskAssign>(h.Advance(999)).empty());  // backoff 1 s
  a = Only<SendTaskAssign>(h.Advance(1));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].attempt, 2u);
  h.Do(Heartbeat{"a", {TaskProgress{"j/s0", 2, 0, 0}}});
  h.Do(TaskFailed{"j/s0", 2, "a", "oom"});
  EXPECT_TRUE(Only<SendTaskAssign>(h.Advance(1999)).empty());  // backoff doubled: 2 s
  a = Only<SendTaskAssign>(h.Advance(1));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].attempt, 3u);
  auto acts = h.Do(TaskFailed{"j/s0", 3, "a", "oom"});
  const Job& job = h.JobAt("j");
  EXPECT_EQ(job.state, JobState::kFailed);
  EXPECT_NE(job.reason.find("after 3 attempts"), std::string::npos);
  EXPECT_NE(job.reason.find("oom"), std::string::npos);
  auto fin = Only<JobFinished>(acts);
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].state, JobState::kFailed);
  EXPECT_EQ(h.ledger.back().kind, LedgerOpKind::kRelease);
}

TEST(Core, NonRetryableFailureWithNobodyElseToTryItLeavesTheTaskWaiting) {
  // One provider in the network: its word is a claim, not a verdict on the job (F4); the task
  // waits for another provider (core_stake_test.cc shows the next one running it).
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_NE(a[0].wire_id, 0u);
  EXPECT_EQ(h.core.FindTaskByWireId(a[0].wire_id)->id, a[0].task);
  h.Do(TaskFailed{a[0].task, a[0].attempt, "a", "prompts blob is not UTF-8", false});
  EXPECT_EQ(h.JobAt("j").state, JobState::kRunning);
  EXPECT_EQ(h.TaskAt(a[0].task).state, TaskState::kQueued);
  EXPECT_NE(h.TaskAt(a[0].task).last_error.find("waiting for another provider"),
            std::string::npos)
      << h.TaskAt(a[0].task).last_error;
  EXPECT_TRUE(h.core.state().nodes.at("a").tasks.empty());
}

TEST(Core, RoundCompletionAggregatesThenStartsTheNextRound) {
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  h.Do(AgentRegistered{Agent("b")});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", TrainSpec(2, 2)}));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].shard_count, 2u);
  EXPECT_TRUE(Only<AggregateRound>(h.Do(Success(a[1]))).empty());
  auto agg = Only<AggregateRound>(h.Do(Success(a[0])));
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_EQ(agg[0].round, 0u);
  ASSERT_EQ(agg[0].deltas.size(), 2u);
  EXPECT_EQ(agg[0].deltas[0], h.TaskAt("j/r0/w0").output_blob);  // worker order
  EXPECT_EQ(agg[0].deltas[1], h.TaskAt("j/r0/w1").output_blob);
  EXPECT_EQ(agg[0].weights[0], agg[0].weights[1]);
  EXPECT_DOUBLE_EQ(agg[0].outer_lr, 0.7);

  // A duplicate report of the same round does nothing the second time.
  a = Only<SendTaskAssign>(h.Do(RoundAggregated{"j", 0, Blob("p1")}));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].round, 1u);
  EXPECT_EQ(a[0].input_params_blob, Blob("p1"));
  EXPECT_TRUE(h.Do(RoundAggregated{"j", 0, Blob("p1")}).empty());

  h.Do(Success(a[0]));
  agg = Only<AggregateRound>(h.Do(Success(a[1])));
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_EQ(agg[0].input_params_blob, Blob("p1"));
  auto fin = Only<JobFinished>(h.Do(RoundAggregated{"j", 1, Blob("p2")}));
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].state, JobState::kSucceeded);
  EXPECT_EQ(fin[0].outputs, std::vector<BlobHash>{Blob("p2")});
  // Unaudited results are paid once their challenge window has passed; the escrow's release
  // waits for them.
  for (const LedgerOp& op : h.ledger) EXPECT_NE(op.kind, LedgerOpKind::kRelease) << op.id;
  h.Advance(kChallengeWindowMsDefault);
  EXPECT_EQ(h.ledger.back().kind, LedgerOpKind::kRelease);
  int settles = 0;
  MicroPlume paid = 0;
  for (const LedgerOp& op : h.ledger) {
    settles += op.kind == LedgerOpKind::kSettle;
    if (op.kind == LedgerOpKind::kSettle) paid += op.amount_micro_plume;
  }
  EXPECT_EQ(settles, 4);
  EXPECT_EQ(paid, h.JobAt("j").paid_micro_plume);
  EXPECT_LE(paid, h.JobAt("j").spec.budget_micro_plume);
}

TEST(Core, LostWorkerIsReplacedWhenANodeIsFree) {
  Harness h;
  h.Do(AgentRegistered{Agent("a", 10)});
  h.Do(AgentRegistered{Agent("b", 20)});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", TrainSpec(2, 1)}));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].node, "a");
  h.Do(AgentRegistered{Agent("c", 30)});  // spare node, idle
  h.now_ms += 5000;
  h.Do(Heartbeat{"b", {TaskProgress{"j/r0/w1", 1, 0, 0}}});
  h.Do(Heartbeat{"c", {}});
  auto acts = h.Advance(kLeaseMsDefault - 1);  // a's lease ran out; b's and c's have not
  auto re = Only<SendTaskAssign>(acts);
  ASSERT_EQ(re.size(), 1u);
  EXPECT_EQ(re[0].task, "j/r0/w0");
  EXPECT_EQ(re[0].node, "c");
  EXPECT_EQ(re[0].attempt, 2u);
  h.Do(Success(a[1]));
  auto agg = Only<AggregateRound>(h.Do(Success(re[0])));
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_EQ(agg[0].deltas.size(), 2u);
}

TEST(Core, LostWorkerIsDroppedForTheRoundAfterTheTimeout) {
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  h.Do(AgentRegistered{Agent("b")});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", TrainSpec(2, 2, 30'000)}));
  ASSERT_EQ(a.size(), 2u);
  const SendTaskAssign on_b = a[0].node == "b" ? a[0] : a[1];
  for (int i = 0; i < 4; ++i) {  // b stays alive, a goes silent
    h.now_ms += 4000;
    h.Do(Heartbeat{"b", {TaskProgress{on_b.task, 1, 0, 0}}});
    h.Do(Tick{});
  }
  EXPECT_EQ(h.core.state().nodes.at("a").state, NodeState::kLost);
  h.Do(Success(on_b));  // b is free now, but the round has no free node until it ends
  // b picked up the lost worker's task at once (it was free), so nothing is dropped yet...
  const TaskId lost = on_b.task == "j/r0/w0" ? "j/r0/w1" : "j/r0/w0";
  EXPECT_EQ(h.TaskAt(lost).state, TaskState::kAssigned);
  EXPECT_EQ(h.TaskAt(lost).node, "b");
  // ...until b disappears too: past the deadline with one result in, the round goes on.
  h.Do(AgentGone{"b"});
  auto agg = Only<AggregateRound>(h.Advance(30'000));
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_EQ(agg[0].deltas.size(), 1u);
  EXPECT_EQ(h.TaskAt(lost).state, TaskState::kDropped);
}

TEST(Core, CancellationSendsCancelsAndReleasesEscrow) {
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  h.Do(AgentRegistered{Agent("b")});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(10, 3)}));
  ASSERT_EQ(a.size(), 2u);  // third shard waits for a node
  auto rej = Only<Rejected>(h.Do(CancelJob{"j", "mallory"}));
  ASSERT_EQ(rej.size(), 1u);
  EXPECT_EQ(h.JobAt("j").state, JobState::kRunning);
  auto acts = h.Do(CancelJob{"j", "alice"});
  auto cancels = Only<SendTaskCancel>(acts);
  EXPECT_EQ(cancels.size(), 2u);
  EXPECT_EQ(h.JobAt("j").state, JobState::kCancelled);
  EXPECT_EQ(h.TaskAt("j/s2").state, TaskState::kCancelled);
  EXPECT_EQ(h.ledger.back().kind, LedgerOpKind::kRelease);
  EXPECT_EQ(h.ledger.back().job, "j");
  EXPECT_EQ(Only<JobFinished>(acts).at(0).state, JobState::kCancelled);
  // A result arriving after the cancel is ignored; nothing is paid.
  h.Do(Success(a[0]));
  for (const LedgerOp& op : h.ledger) EXPECT_NE(op.kind, LedgerOpKind::kSettle);
  EXPECT_EQ(Only<Rejected>(h.Do(CancelJob{"j", "alice"})).size(), 1u);  // already cancelled
}

TEST(Core, DuplicateResultIsCountedAndPaidOnce) {
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  h.Do(AgentRegistered{Agent("b")});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 2)}));
  ASSERT_EQ(a.size(), 2u);
  h.Do(Success(a[0]));
  h.Do(Success(a[0]));
  h.Do(TaskFailed{a[0].task, a[0].attempt, a[0].node, "late failure"});
  EXPECT_EQ(h.TaskAt(a[0].task).state, TaskState::kSucceeded);
  h.Advance(kChallengeWindowMsDefault);  // settled when its challenge window has passed
  h.Do(Success(a[0]));
  int settles = 0;
  for (const LedgerOp& op : h.ledger) settles += op.kind == LedgerOpKind::kSettle;
  EXPECT_EQ(settles, 1);
  EXPECT_EQ(h.JobAt("j").paid_micro_plume, h.TaskAt(a[0].task).paid_micro_plume);
}

TEST(Core, InferenceShardsAreJoinedInShardOrder) {
  Harness h;
  for (const char* id : {"a", "b", "c"}) h.Do(AgentRegistered{Agent(id)});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(10, 4)}));
  ASSERT_EQ(a.size(), 3u);
  // Finish out of order; the fourth shard runs when a node frees up.
  auto more = Only<SendTaskAssign>(h.Do(Success(a[2], "x")));
  ASSERT_EQ(more.size(), 1u);
  EXPECT_EQ(more[0].shard, 3u);
  h.Do(Success(more[0], "x"));
  h.Do(Success(a[0], "x"));
  auto fin = Only<JobFinished>(h.Do(Success(a[1], "x")));
  ASSERT_EQ(fin.size(), 1u);
  ASSERT_EQ(fin[0].outputs.size(), 4u);
  for (uint32_t s = 0; s < 4; ++s) {
    EXPECT_EQ(fin[0].outputs[s], Blob("xj/s" + std::to_string(s)));
  }
  EXPECT_GT(h.TaskAt("j/s0").flops, h.TaskAt("j/s3").flops);  // 3 prompts vs 2
}

TEST(Core, InferenceJobFinishesOnItsLastShardAlsoAfterARestart) {
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(6, 3)}));
  ASSERT_EQ(a.size(), 1u);
  const SendTaskAssign first = a[0];
  a = Only<SendTaskAssign>(h.Do(Success(first)));
  ASSERT_EQ(a.size(), 1u);
  h.Do(Success(first));  // duplicate of a counted result: must not count twice
  EXPECT_EQ(h.JobAt("j").state, JobState::kRunning);
  // Restart from the state: the count of finished shards is derived again on load.
  Core restored(h.core.config(), h.core.state());
  h.core = std::move(restored);
  a = Only<SendTaskAssign>(h.Do(Success(a[0])));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].shard, 2u);
  EXPECT_EQ(h.JobAt("j").state, JobState::kRunning);
  auto fin = Only<JobFinished>(h.Do(Success(a[0])));
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].state, JobState::kSucceeded);
}

TEST(Core, NodesKeepATrackRecordAndPlacementPrefersTheReliableOne) {
  Harness h;
  h.Do(AgentRegistered{Agent("fast", 100, 9'000'000)});
  h.Do(AgentRegistered{Agent("slow", 100, 1'000'000)});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].node, "fast");  // equal records: speed decides
  h.Do(TaskFailed{"j/s0", 1, "fast", "cuda error", true});
  a = Only<SendTaskAssign>(h.Advance(kRetryBackoffBaseMsDefault));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].node, "slow");  // both free: the failure cost "fast" its preference
  h.Do(Success(a[0]));
  const auto& nodes = h.core.state().nodes;
  EXPECT_EQ(nodes.at("fast").tasks_failed, 1u);
  EXPECT_EQ(nodes.at("slow").tasks_succeeded, 1u);
  // A lease that runs out with a task on the node counts as lost.
  a = Only<SendTaskAssign>(h.Do(JobSubmitted{"k", "alice", InferSpec(4, 2)}));
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].node, "slow");  // the better record now comes first
  h.now_ms += kLeaseMsDefault / 2;
  h.Do(Heartbeat{"slow", {TaskProgress{a[0].task, 1, 0, 0}}});
  h.Advance(kLeaseMsDefault / 2);  // "fast" sent nothing: its lease has run out
  EXPECT_EQ(nodes.at("fast").state, NodeState::kLost);
  EXPECT_EQ(nodes.at("fast").tasks_lost, 1u);
  // The record survives a restart (it is part of the persisted state) and keeps steering work.
  Core restored(h.core.config(), h.core.state());
  h.core = std::move(restored);
  h.Do(AgentRegistered{Agent("fast", 100, 9'000'000)});
  EXPECT_EQ(h.core.state().nodes.at("fast").tasks_lost, 1u);
}

TEST(Core, InfeasibleJobFailsAfterGraceButABusyOneWaits) {
  Config c = testing::NoAudits();
  c.infeasible_grace_ms = 60'000;
  Harness h(c);
  h.Do(AgentRegistered{Agent("a")});
  JobSpec cuda = InferSpec(4, 1);
  cuda.backend = Backend::kCuda;
  JobSpec cpu = InferSpec(4, 2);
  cpu.backend = Backend::kCpu;
  h.Do(JobSubmitted{"busy", "alice", cpu});  // one shard runs, one waits
  h.Do(JobSubmitted{"gpu", "alice", cuda});
  h.Advance(1000);
  EXPECT_NE(h.JobAt("gpu").infeasible_since_ms, -1);
  EXPECT_NE(h.JobAt("gpu").reason.find("backend cuda"), std::string::npos);
  EXPECT_EQ(h.JobAt("busy").infeasible_since_ms, -1);
  for (int i = 0; i < 70; ++i) {
    h.now_ms += 1000;
    h.Do(Heartbeat{"a", {TaskProgress{"busy/s0", 1, 0, 0}}});
    h.Do(Tick{});
  }
  EXPECT_EQ(h.JobAt("gpu").state, JobState::kFailed);
  EXPECT_EQ(h.JobAt("busy").state, JobState::kRunning);
  EXPECT_EQ(h.JobAt("busy").reason, "waiting for a free node");
  // A suitable node joining within the grace period rescues an infeasible job.
  h.Do(JobSubmitted{"gpu2", "alice", cuda});
  h.Advance(1000);
  auto a = Only<SendTaskAssign>(h.Do(AgentRegistered{Agent("g", 1, 1, Backend::kCuda)}));
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].job, "gpu2");
  EXPECT_EQ(h.JobAt("gpu2").infeasible_since_ms, -1);
}

TEST(Core, DrainingNodeFinishesButGetsNothingNew) {
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 2)}));
  ASSERT_EQ(a.size(), 1u);
  h.Do(AgentDraining{"a"});
  EXPECT_TRUE(Only<SendTaskAssign>(h.Do(Success(a[0]))).empty());
  EXPECT_EQ(h.TaskAt(a[0].task).state, TaskState::kSucceeded);
  EXPECT_EQ(h.TaskAt("j/s1").state, TaskState::kQueued);
  auto b = Only<SendTaskAssign>(h.Do(AgentRegistered{Agent("b")}));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].node, "b");
}

TEST(Core, HeartbeatReconcilesLostAssignmentsAndStaleTasks) {
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)}));
  ASSERT_EQ(a.size(), 1u);
  // Within the grace period an empty heartbeat is fine (the assign may be in flight).
  h.now_ms += 1000;
  h.Do(Heartbeat{"a", {}});
  EXPECT_EQ(h.TaskAt("j/s0").state, TaskState::kAssigned);
  // After it, the agent evidently never got the task: requeue (and reassign, a is free).
  h.now_ms += kAssignAckGraceMsDefault;
  auto acts = h.Do(Heartbeat{"a", {TaskProgress{"other/s9", 1, 0, 0}}});
  auto re = Only<SendTaskAssign>(acts);
  ASSERT_EQ(re.size(), 1u);
  EXPECT_EQ(re[0].attempt, 2u);
  auto cancels = Only<SendTaskCancel>(acts);
  ASSERT_EQ(cancels.size(), 1u);  // it runs something we never gave it
  EXPECT_EQ(cancels[0].task, "other/s9");
}

TEST(Core, NothingIsPlacedBeforeTheEscrowHoldAndARefusedHoldFailsTheJob) {
  Harness h;
  h.auto_ledger = false;
  h.Do(AgentRegistered{Agent("a")});
  auto acts = h.Do(JobSubmitted{"j", "alice", InferSpec(4, 1)});
  EXPECT_TRUE(Only<SendTaskAssign>(acts).empty());
  auto hold = Only<LedgerRequest>(acts);
  ASSERT_EQ(hold.size(), 1u);
  EXPECT_EQ(hold[0].op.kind, LedgerOpKind::kHold);
  EXPECT_EQ(hold[0].op.amount_micro_plume, MaxJobCostMicroPlume(h.JobAt("j").spec));
  EXPECT_EQ(Only<SendTaskAssign>(h.Do(LedgerApplied{hold[0].op.id})).size(), 1u);

  hold = Only<LedgerRequest>(h.Do(JobSubmitted{"k", "bob", InferSpec(4, 1)}));
  auto fin = Only<JobFinished>(h.Do(LedgerFailed{hold[0].op.id, "insufficient balance"}));
  ASSERT_EQ(fin.size(), 1u);
  EXPECT_EQ(fin[0].state, JobState::kFailed);
  EXPECT_NE(fin[0].reason.find("insufficient balance"), std::string::npos);
}

TEST(Core, TheHoldIsTheMaximumCostWithTheNetworksFeeNotTheBudget) {
  Config config = testing::NoAudits();
  config.fee_bps = 1234;
  Harness h(config);
  h.auto_ledger = false;
  JobSpec spec = InferSpec(5, 2);
  spec.max_price_micro_plume_per_pflop = 1'000'000'000'000;  // tiny model: a visible cost
  spec.fee_bps = 0;                                          // a submitter cannot choose the fee
  spec.budget_micro_plume = 100 * MaxJobCostMicroPlume(spec);  // room the hold must not take
  auto hold = Only<LedgerRequest>(h.Do(JobSubmitted{"j", "alice", spec}));
  ASSERT_EQ(hold.size(), 1u);
  const JobSpec& held = h.JobAt("j").spec;
  EXPECT_EQ(held.fee_bps, 1234u);
  EXPECT_EQ(hold[0].op.amount_micro_plume, MaxJobCostMicroPlume(held));
  EXPECT_LT(hold[0].op.amount_micro_plume, spec.budget_micro_plume);
  spec.fee_bps = 1234;
  EXPECT_EQ(MaxJobCostMicroPlume(held), MaxJobCostMicroPlume(spec));
  spec.fee_bps = 0;
  EXPECT_GT(MaxJobCostMicroPlume(held), MaxJobCostMicroPlume(spec));  // the fee is in it

  // A budget that covers the work but not the fee is refused, naming the fee.
  JobSpec tight = InferSpec(5, 2);
  tight.max_price_micro_plume_per_pflop = spec.max_price_micro_plume_per_pflop;
  tight.fee_bps = 0;
  tight.budget_micro_plume = MaxJobCostMicroPlume(tight);
  auto rej = Only<Rejected>(h.Do(JobSubmitted{"k", "alice", tight}));
  ASSERT_EQ(rej.size(), 1u);
  EXPECT_NE(rej[0].reason.find("1234 bps"), std::string::npos) << rej[0].reason;
}

TEST(Core, SubmissionsAreValidated) {
  Harness h;
  JobSpec bad = TrainSpec(2, 2);
  bad.train.seq_len = 1000;
  auto rej = Only<Rejected>(h.Do(JobSubmitted{"j", "alice", bad}));
  ASSERT_EQ(rej.size(), 1u);
  EXPECT_NE(rej[0].reason.find("seq_len"), std::string::npos);
  EXPECT_TRUE(h.core.state().jobs.empty());
  EXPECT_EQ(Only<Rejected>(h.Do(JobSubmitted{"a/b", "alice", TrainSpec(1, 1)})).size(), 1u);
  h.Do(JobSubmitted{"ok", "alice", TrainSpec(1, 1)});
  EXPECT_EQ(Only<Rejected>(h.Do(JobSubmitted{"ok", "alice", TrainSpec(1, 1)})).size(), 1u);
}

}  // namespace
}  // namespace plume::scheduler
