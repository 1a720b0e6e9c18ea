// Each closed training round queues one checkpoint request (ledger/lineage.h) in the core's
// outbox: the parameters in and out and the deltas the outer step averaged, in worker order,
// encoded when the round closed; a repeated report of the round queues nothing more, and a
// request the ledger has not yet applied stays in the outbox (persisted, re-sent after a restart).
#include <gtest/gtest.h>

#include "checkpoint_memo.h"
#include "core_test_util.h"

namespace plume::scheduler {
namespace {

using namespace testing;

TaskSucceeded Success(const SendTaskAssign& a) {
  return TaskSucceeded{a.task, a.attempt, a.node, Blob("delta " + a.task), TaskMetrics{1.0, 10, 10}};
}

ledger::CheckpointFact FactOf(const LedgerOp& op) {
  auto fact = ParseCheckpointMemo(op.memo);
  EXPECT_TRUE(fact.has_value()) << op.memo;
  // The text is the fact exactly: written back, it is the same text.
  if (fact) {
    EXPECT_EQ(CheckpointMemo(*fact), op.memo);
  }
  return fact.value_or(ledger::CheckpointFact{});
}

std::vector<LedgerOp> Checkpoints(const Harness& h) {
  std::vector<LedgerOp> out;
  for (const LedgerOp& op : h.ledger) {
    if (op.kind == LedgerOpKind::kCheckpoint) out.push_back(op);
  }
  return out;
}

TEST(CoreLineage, EachClosedRoundQueuesOneCheckpointWithTheDeltasItAveraged) {
  Harness h;
  h.Do(AgentRegistered{Agent("a")});
  h.Do(AgentRegistered{Agent("b")});
  JobSpec spec = TrainSpec(2, 2);
  spec.initial_params_blob = Blob("p0");  // the reactor's seeded initialisation
  auto a = Only<SendTaskAssign>(h.Do(JobSubmitted{"j", "alice", spec}));
  ASSERT_EQ(a.size(), 2u);
  h.Do(Success(a[0]));
  const auto agg = Only<AggregateRound>(h.Do(Success(a[1])));
  ASSERT_EQ(agg.size(), 1u);
  EXPECT_TRUE(Checkpoints(h).empty()) << "nothing before the outer step reports";
  a = Only<SendTaskAssign>(h.Do(RoundAggregated{"j", 0, Blob("p1")}));
  h.Do(RoundAggregated{"j", 0, Blob("p1")});  // a repeated report
  ASSERT_EQ(Checkpoints(h).size(), 1u);
  const LedgerOp op = Checkpoints(h)[0];
  EXPECT_EQ(op.id, "checkpoint:j/r0");
  EXPECT_EQ(op.job, "j");
  const ledger::CheckpointFact f = FactOf(op);
  EXPECT_EQ(f.round, 0u);
  EXPECT_FALSE(f.final);
  EXPECT_EQ(MemoHex(f.params_in), Blob("p0"));
  EXPECT_EQ(MemoHex(f.params_out), Blob("p1"));
  ASSERT_EQ(f.deltas.size(), 2u);
  EXPECT_EQ(MemoHex(f.deltas[0]), agg[0].deltas[0]);  // worker order, as averaged
  EXPECT_EQ(MemoHex(f.deltas[1]), agg[0].deltas[1]);
  EXPECT_EQ(f.weights, agg[0].weights);
  EXPECT_DOUBLE_EQ(f.outer_lr, agg[0].outer_lr);
  EXPECT_DOUBLE_EQ(f.outer_momentum, agg[0].outer_momentum);

  // The last round's entry says so, and starts from the first round's output; it is queued
  // before the job's release.
  h.auto_ledger = false;
  h.Do(Success(a[0]));
  h.Do(Success(a[1]));
  h.Do(RoundAggregated{"j", 1, Blob("p2")});
  const std::string id = "checkpoint:j/r1";
  ASSERT_TRUE(h.core.state().outbox.contains(id)) << "kept until the ledger applies it";
  const ledger::CheckpointFact last = FactOf(h.core.state().outbox.at(id));
  EXPECT_TRUE(last.final);
  EXPECT_EQ(MemoHex(last.params_in), Blob("p1"));
  EXPECT_EQ(MemoHex(last.params_out), Blob("p2"));
  h.Do(LedgerApplied{id});
  EXPECT_FALSE(h.core.state().outbox.contains(id));
}

}  // namespace
}  // namespace plume::scheduler
