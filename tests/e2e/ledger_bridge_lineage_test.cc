// The ledger bridge's checkpoint requests (scheduler/src/ledger_bridge_lineage.cc) on a real
// ledger directory: a request appends one checkpoint entry signed by the ledger key, a re-sent
// one (after a restart) is applied once, and a request whose body does not decode or names
// another round is refused with nothing written.
#include "bridge_fixture.h"
#include "checkpoint_memo.h"
#include "plume/ledger/lineage.h"

namespace plume::scheduler {
namespace {

LedgerOp CheckpointOp(const std::string& job, const ledger::CheckpointFact& f) {
  LedgerOp op;
  op.id = ledger::CheckpointEntryId(job, f.round);
  op.kind = LedgerOpKind::kCheckpoint;
  op.job = job;
  op.memo = CheckpointMemo(f);
  return op;
}

ledger::CheckpointFact Fact(uint32_t round) {
  ledger::CheckpointFact f;
  f.round = round;
  f.params_in = Blake2b256("in");
  f.params_out = Blake2b256("out");
  f.deltas = {Blake2b256("delta")};
  f.weights = {256};
  f.outer_lr = 0.7;
  f.outer_momentum = 0.9;
  return f;
}

using LedgerBridgeLineageTest = testing::BridgeFixture;

TEST_F(LedgerBridgeLineageTest, ARoundsCheckpointIsAppendedOnceAndABadRequestIsRefused) {
  const LedgerOp op = CheckpointOp("job-a", Fact(0));
  std::string refusal;
  for (int i = 0; i < 2; ++i) {  // the second is a request re-sent after a restart
    auto r = bridge_->Apply(op, refusal);
    ASSERT_TRUE(r && *r) << refusal;
  }
  const uint64_t size = bridge_->ledger().size();
  auto index = bridge_->ledger().IndexOf(op.id);
  ASSERT_TRUE(index.has_value());
  auto bundle = bridge_->ledger().ProveInclusion(*index);
  ASSERT_TRUE(bundle.has_value());
  EXPECT_TRUE(ledger::CheckInclusion(*bundle, scheduler_.public_key()));
  EXPECT_EQ(bundle->logged.entry.type, ledger::EntryType::kCheckpoint);
  EXPECT_EQ(ledger::DecodeCheckpoint(bundle->logged.entry.body).value(), Fact(0));

  LedgerOp garbled = CheckpointOp("job-a", Fact(1));
  garbled.memo = "1 0 not-a-hash";
  auto r = bridge_->Apply(garbled, refusal);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(*r);
  EXPECT_NE(refusal.find("malformed"), std::string::npos) << refusal;
  LedgerOp other_round = CheckpointOp("job-a", Fact(1));
  other_round.id = ledger::CheckpointEntryId("job-a", 2);
  r = bridge_->Apply(other_round, refusal);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(*r);
  LedgerOp changed = CheckpointOp("job-a", Fact(0));  // same round, other parameters
  ledger::CheckpointFact f = Fact(0);
  f.params_out = Blake2b256("other");
  changed.memo = CheckpointMemo(f);
  r = bridge_->Apply(changed, refusal);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(*r);
  EXPECT_NE(refusal.find("id_conflict"), std::string::npos) << refusal;
  EXPECT_EQ(bridge_->ledger().size(), size) << "a refused request writes nothing";
}

}  // namespace
}  // namespace plume::scheduler
