// The rules of the pure state machine: authorisation (who may sign what), balances, escrow
// holds, settlement arithmetic, duplicate receipts and overflow. Each test drives State
// through Authorize + Apply exactly as the Ledger does, and checks the invariants after.
#include "plume/ledger/state.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Cast;
using test::Signed;

class StateTest : public ::testing::Test {
 protected:
  // Authorize then Apply, as the Ledger does; checks the invariants after every entry.
  Code Run(const Entry& e) {
    Code code = Authorize(e, cast_.keys());
    if (code == Code::kOk) code = state_.Apply(e, BodyHash(e)).code;
    auto inv = state_.CheckInvariants();
    EXPECT_TRUE(inv.has_value()) << inv.error().message;
    return code;
  }
  void Genesis(MicroPlume each) {
    for (const Entry& e : test::Genesis(cast_, each)) ASSERT_EQ(Run(e), Code::kOk) << e.id;
  }
  Entry Settle(std::string id, TaskReceipt r) {
    return Signed(cast_.id, MakeSettle(std::move(id), std::move(r)), cast_.ledger);
  }
  int64_t Bal(const std::string& account) { return state_.Balance(account)->value(); }

  Cast cast_;
  State state_;
};

TEST_F(StateTest, MintNeedsTheOperatorSignature) {
  Genesis(MicroPlume(0));
  EXPECT_EQ(Run(MakeMint("m1", cast_.team(0), MicroPlume(5))), Code::kBadSignature);
  EXPECT_EQ(Run(Signed(cast_.id, MakeMint("m2", cast_.team(0), MicroPlume(5)), cast_.teams[0])),
            Code::kBadSignature);
  EXPECT_EQ(Run(Signed(cast_.id, MakeMint("m3", cast_.team(0), MicroPlume(5)), cast_.ledger)),
            Code::kBadSignature);
  EXPECT_EQ(Bal(cast_.team(0)), 0);
  EXPECT_EQ(Run(Signed(cast_.id, MakeMint("m4", cast_.team(0), MicroPlume(5)), cast_.operator_id)),
            Code::kOk);
  EXPECT_EQ(Bal(cast_.team(0)), 5);
  EXPECT_EQ(Bal("operator"), -5);
  EXPECT_EQ(state_.minted(), MicroPlume(5));
}

TEST_F(StateTest, OnlyTheOwnerSpendsATeamAccount) {
  Genesis(MicroPlume(100));
  // Team 1 signs a transfer out of team 0's account: refused, nothing moves.
  EXPECT_EQ(Run(Signed(cast_.id, MakeTransfer("t1", cast_.team(0), cast_.team(1), MicroPlume(10)),
                       cast_.teams[1])),
            Code::kBadSignature);
  // Neither the scheduler nor the operator may spend it either.
  EXPECT_EQ(Run(Signed(cast_.id, MakeTransfer("t2", cast_.team(0), cast_.team(1), MicroPlume(10)),
                       cast_.ledger)),
            Code::kBadSignature);
  EXPECT_EQ(Run(Signed(cast_.id, MakeTransfer("t3", cast_.team(0), cast_.team(1), MicroPlume(10)),
                       cast_.operator_id)),
            Code::kBadSignature);
  EXPECT_EQ(Bal(cast_.team(0)), 100);
  EXPECT_EQ(Run(Signed(cast_.id, MakeTransfer("t4", cast_.team(0), cast_.team(1), MicroPlume(10)),
                       cast_.teams[0])),
            Code::kOk);
  EXPECT_EQ(Bal(cast_.team(0)), 90);
  EXPECT_EQ(Bal(cast_.team(1)), 110);
  // Holds also need the team's own signature.
  EXPECT_EQ(
      Run(Signed(cast_.id, MakeEscrowHold("h", cast_.team(0), "job", MicroPlume(5)), cast_.ledger)),
      Code::kBadSignature);
}

TEST_F(StateTest, TransferRules) {
  Genesis(MicroPlume(100));
  EXPECT_EQ(Run(Signed(cast_.id, MakeTransfer("a", cast_.team(0), cast_.team(1), MicroPlume(101)),
                       cast_.teams[0])),
            Code::kInsufficientBalance);
  EXPECT_EQ(Run(Signed(cast_.id, MakeTransfer("b", cast_.team(0), cast_.team(1), MicroPlume(0)),
                       cast_.teams[0])),
            Code::kInvalid);
  EXPECT_EQ(Run(Signed(cast_.id, MakeTransfer("c", cast_.team(0), cast_.team(1), MicroPlume(-1)),
                       cast_.teams[0])),
            Code::kInvalid);
  EXPECT_EQ(Run(Signed(cast_.id, MakeTransfer("d", cast_.team(0), cast_.team(0), MicroPlume(1)),
                       cast_.teams[0])),
            Code::kInvalid);
  EXPECT_EQ(Run(Signed(cast_.id, MakeTransfer("e", cast_.team(0), "escrow:x", MicroPlume(1)),
                       cast_.teams[0])),
            Code::kInvalid);
  Identity stranger = Identity::Generate();
  EXPECT_EQ(Run(Signed(
                cast_.id,
                MakeTransfer("f", cast_.team(0), TeamAccount(stranger.public_key()), MicroPlume(1)),
                cast_.teams[0])),
            Code::kUnknownAccount);
  EXPECT_EQ(Run(Signed(cast_.id, MakeOpenAccount("g", cast_.team(0)), cast_.teams[0])),
            Code::kAccountExists);
  EXPECT_EQ(Run(Signed(cast_.id, MakeOpenAccount("h", TeamAccount(stranger.public_key())),
                       cast_.teams[0])),
            Code::kBadSignature);
}

TEST_F(StateTest, EscrowSettleAndReleaseAddUp) {
  Genesis(MicroPlume(10'000'000));
  const std::string job = "job-42";
  ASSERT_EQ(Run(Signed(cast_.id, MakeEscrowHold("hold", cast_.team(0), job, MicroPlume(1'000'000)),
                       cast_.teams[0])),
            Code::kOk);
  EXPECT_EQ(Bal(cast_.team(0)), 9'000'000);
  EXPECT_EQ(Bal(EscrowAccount(job)), 1'000'000);
  // 2.5 PFLOP at 100,000 micro-PLUME/PFLOP = 250,000 to the provider, 2.5 % fee = 6,250.
  const TaskReceipt r0 = test::MakeSignedReceipt(cast_.id, job, "t0", cast_.agents[0], cast_.ledger,
                                                 2'500'000'000'000'000ULL, 100'000, 250);
  ASSERT_EQ(Run(Settle("s0", r0)), Code::kOk);
  EXPECT_EQ(Bal(cast_.provider(0)), 250'000);
  EXPECT_EQ(Bal("treasury"), 6'250);
  EXPECT_EQ(Bal(EscrowAccount(job)), 1'000'000 - 256'250);
  // The same (job, task) again, even as another attempt with a new entry id: pays nothing.
  TaskReceipt again = r0;
  again.attempt = 2;
  again.agent_signature = SignAsAgent(again, cast_.id, cast_.agents[0]);
  again.scheduler_signature = Countersign(again, cast_.id, cast_.ledger);
  EXPECT_EQ(Run(Settle("s0-again", again)), Code::kDuplicateReceipt);
  EXPECT_EQ(Bal(cast_.provider(0)), 250'000);
  // A receipt worth more than the hold has left is refused and the hold is untouched.
  const TaskReceipt big = test::MakeSignedReceipt(
      cast_.id, job, "t1", cast_.agents[1], cast_.ledger, 8'000'000'000'000'000ULL, 100'000, 250);
  EXPECT_EQ(Run(Settle("s1", big)), Code::kHoldExceeded);
  EXPECT_EQ(Bal(EscrowAccount(job)), 743'750);
  // Release: the rest goes back to the team and the hold closes.
  EXPECT_EQ(Run(Signed(cast_.id, MakeRelease("rel", job, cast_.team(0)), cast_.teams[0])),
            Code::kBadSignature);
  ASSERT_EQ(Run(Signed(cast_.id, MakeRelease("rel", job, cast_.team(0)), cast_.ledger)), Code::kOk);
  EXPECT_EQ(Bal(cast_.team(0)), 9'743'750);
  EXPECT_EQ(Bal(EscrowAccount(job)), 0);
  const HoldInfo hold = *state_.Hold(job);
  EXPECT_TRUE(hold.closed);
  EXPECT_EQ(hold.held.value(), hold.paid.value() + hold.fees.value() + hold.released.value());
  const TaskReceipt late = test::MakeSignedReceipt(cast_.id, job, "t2", cast_.agents[0],
                                                   cast_.ledger, 1'000'000'000'000'000ULL, 1, 0);
  EXPECT_EQ(Run(Settle("s2", late)), Code::kHoldClosed);
  EXPECT_EQ(Run(Signed(cast_.id, MakeRelease("rel2", job, cast_.team(0)), cast_.ledger)),
            Code::kHoldClosed);
  EXPECT_EQ(Run(Signed(cast_.id, MakeEscrowHold("hold2", cast_.team(0), job, MicroPlume(1)),
                       cast_.teams[0])),
            Code::kHoldClosed);
}

TEST_F(StateTest, HoldWithoutTheBalanceHoldsNothing) {
  Genesis(MicroPlume(100));
  EXPECT_EQ(Run(Signed(cast_.id, MakeEscrowHold("h", cast_.team(0), "j", MicroPlume(101)),
                       cast_.teams[0])),
            Code::kInsufficientBalance);
  EXPECT_FALSE(state_.Hold("j").has_value());
  EXPECT_FALSE(state_.Balance(EscrowAccount("j")).has_value());
  EXPECT_EQ(Bal(cast_.team(0)), 100);
  ASSERT_EQ(Run(Signed(cast_.id, MakeEscrowHold("h1", cast_.team(0), "j", MicroPlume(60)),
                       cast_.teams[0])),
            Code::kOk);
  EXPECT_EQ(Run(Signed(cast_.id, MakeEscrowHold("h2", cast_.team(1), "j", MicroPlume(1)),
                       cast_.teams[1])),
            Code::kHoldOwnerMismatch);
  ASSERT_EQ(Run(Signed(cast_.id, MakeEscrowHold("h3", cast_.team(0), "j", MicroPlume(40)),
                       cast_.teams[0])),
            Code::kOk);
  EXPECT_EQ(state_.Hold("j")->held, MicroPlume(100));
  EXPECT_EQ(Run(Signed(cast_.id, MakeRelease("r", "j", cast_.team(1)), cast_.ledger)),
            Code::kHoldOwnerMismatch);
  EXPECT_EQ(Run(Signed(cast_.id, MakeRelease("r", "nojob", cast_.team(0)), cast_.ledger)),
            Code::kUnknownHold);
}

TEST_F(StateTest, SettleNeedsAValidAgentReceiptAndCountersignature) {
  Genesis(MicroPlume(1'000'000));
  ASSERT_EQ(Run(Signed(cast_.id, MakeEscrowHold("h", cast_.team(0), "j", MicroPlume(1'000'000)),
                       cast_.teams[0])),
            Code::kOk);
  const uint64_t pflop = 1'000'000'000'000'000ULL;
  TaskReceipt good =
      test::MakeSignedReceipt(cast_.id, "j", "t", cast_.agents[0], cast_.ledger, pflop, 10, 0);
  // Agent signature broken (the FLOPs were inflated after signing).
  TaskReceipt inflated = good;
  inflated.flops *= 100;
  inflated.scheduler_signature = Countersign(inflated, cast_.id, cast_.ledger);
  EXPECT_EQ(Run(Settle("a", inflated)), Code::kBadReceipt);
  // No countersignature.
  TaskReceipt unsigned_terms = good;
  unsigned_terms.scheduler_signature = Signature{};
  EXPECT_EQ(Run(Settle("b", unsigned_terms)), Code::kBadReceipt);
  // Countersigned by someone who is not the scheduler.
  TaskReceipt wrong_scheduler = good;
  wrong_scheduler.scheduler_signature = Countersign(good, cast_.id, cast_.operator_id);
  EXPECT_EQ(Run(Settle("c", wrong_scheduler)), Code::kBadReceipt);
  // Signed by another agent than the one it names.
  TaskReceipt impostor = good;
  impostor.agent_signature = SignAsAgent(good, cast_.id, cast_.agents[1]);
  impostor.scheduler_signature = Countersign(impostor, cast_.id, cast_.ledger);
  EXPECT_EQ(Run(Settle("d", impostor)), Code::kBadReceipt);
  // Paying a different provider than the receipt's agent.
  Entry redirected = MakeSettle("e", good);
  redirected.to = cast_.provider(1);
  EXPECT_EQ(Run(redirected), Code::kInvalid);
  EXPECT_EQ(Bal(cast_.provider(0)), 0);
  EXPECT_EQ(Bal(cast_.provider(1)), 0);
  EXPECT_EQ(Run(MakeSettle("f", good)), Code::kBadSignature);  // the scheduler must append it
  EXPECT_EQ(Run(Settle("f", good)), Code::kOk);
  EXPECT_EQ(Bal(cast_.provider(0)), 10);
}

TEST_F(StateTest, AmountsNearInt64MaxOverflowInsteadOfWrapping) {
  Genesis(MicroPlume(0));
  const MicroPlume near_max(INT64_MAX - 10);
  ASSERT_EQ(Run(Signed(cast_.id, MakeMint("m1", cast_.team(0), near_max), cast_.operator_id)),
            Code::kOk);
  EXPECT_EQ(Run(Signed(cast_.id, MakeMint("m2", cast_.team(1), MicroPlume(11)), cast_.operator_id)),
            Code::kOverflow);
  EXPECT_EQ(Run(Signed(cast_.id, MakeMint("m3", cast_.team(1), MicroPlume(10)), cast_.operator_id)),
            Code::kOk);
  EXPECT_EQ(Bal("operator"), -INT64_MAX);
  // A settle whose pay does not fit in an int64.
  ASSERT_EQ(
      Run(Signed(cast_.id, MakeEscrowHold("h", cast_.team(0), "j", near_max), cast_.teams[0])),
      Code::kOk);
  const TaskReceipt huge = test::MakeSignedReceipt(cast_.id, "j", "t", cast_.agents[0],
                                                   cast_.ledger, UINT64_MAX, UINT64_MAX, 0);
  EXPECT_EQ(Run(Settle("s", huge)), Code::kOverflow);
  // Pay fits but pay + fee does not.
  const TaskReceipt fee =
      test::MakeSignedReceipt(cast_.id, "j", "t", cast_.agents[0], cast_.ledger,
                              1'000'000'000'000'000ULL, 6'000'000'000'000'000'000ULL, 10'000);
  EXPECT_EQ(Run(Settle("s2", fee)), Code::kOverflow);
  EXPECT_EQ(Bal(EscrowAccount("j")), near_max.value());
}

TEST_F(StateTest, StakeNeedsTheAgentAndTheBalance) {
  // Unstake, withdraw and slash: state_stake_test.cc.
  Genesis(MicroPlume(0));
  const PublicKey agent = cast_.agents[0].public_key();
  ASSERT_EQ(
      Run(Signed(cast_.id, MakeMint("m", cast_.provider(0), MicroPlume(50)), cast_.operator_id)),
      Code::kOk);
  EXPECT_EQ(Run(Signed(cast_.id, MakeStake("s0", agent, MicroPlume(51)), cast_.agents[0])),
            Code::kInsufficientBalance);
  EXPECT_FALSE(state_.Balance(StakeAccount(agent)).has_value());
  EXPECT_EQ(Run(Signed(cast_.id, MakeStake("s1", agent, MicroPlume(30)), cast_.ledger)),
            Code::kBadSignature);
  ASSERT_EQ(Run(Signed(cast_.id, MakeStake("s2", agent, MicroPlume(30)), cast_.agents[0])),
            Code::kOk);
  EXPECT_EQ(Bal(cast_.provider(0)), 20);
  EXPECT_EQ(Bal(StakeAccount(agent)), 30);
  // Stake is not spendable: no transfer or mint touches it.
  EXPECT_EQ(
      Run(Signed(cast_.id, MakeTransfer("t", StakeAccount(agent), cast_.provider(0), MicroPlume(1)),
                 cast_.agents[0])),
      Code::kInvalid);
}

TEST_F(StateTest, SameIdIsAppliedOnce) {
  Genesis(MicroPlume(100));
  const Entry t =
      Signed(cast_.id, MakeTransfer("pay-1", cast_.team(0), cast_.team(1), MicroPlume(10)),
             cast_.teams[0]);
  const ApplyResult first = state_.Apply(t, BodyHash(t));
  ASSERT_EQ(first.code, Code::kOk);
  const ApplyResult second = state_.Apply(t, BodyHash(t));
  EXPECT_EQ(second.code, Code::kIdExists);
  EXPECT_EQ(second.index, first.index);
  EXPECT_EQ(Bal(cast_.team(0)), 90);
  Entry changed = MakeTransfer("pay-1", cast_.team(0), cast_.team(1), MicroPlume(11));
  EXPECT_EQ(state_.Apply(changed, BodyHash(changed)).code, Code::kIdConflict);
}

}  // namespace
}  // namespace plume::ledger
