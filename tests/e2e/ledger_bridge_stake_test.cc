// The ledger bridge's stake entries on a real ledger directory (ledger_bridge_stake.cc): a slash
// the core decided carries the faulty run's kept, countersigned receipt, its legs cut in order to
// the stake the ledger holds, is applied once however often it is re-sent, and reaches stake that
// is unbonding; a fault with no kept receipt or nothing staked slashes nothing (refused, said
// why); matured unbonding tranches are withdrawn on the tick, before their release time never,
// and after a restart too.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bridge_fixture.h"
#include "plume/ledger/entry.h"
#include "plume/ledger/query.h"
#include "plume/scheduler/ledger_bridge.h"

namespace plume::scheduler {
namespace {
using ledger::MicroPlume;
using testing::AgentSigned;

class LedgerBridgeStakeTest : public testing::BridgeFixture {
 protected:
  void SetUp() override {
    BridgeFixture::SetUp();
    UseClock();
    ledger::Entry mint = ledger::MakeMint("mint:p", provider_, MicroPlume(10'000'000));
    mint.signatures.push_back(ledger::SignEntry(mint, ledger_id(), op_));
    ASSERT_EQ(bridge_->AppendMint(mint)->code, ledger::Code::kOk);
  }
  void UseClock() {
    bridge_->set_clock([this] { return now_; });
    bridge_->set_unbonding_ms(kUnbonding);
  }
  void Submit(ledger::Entry e) {
    e.signatures.push_back(ledger::SignEntry(e, ledger_id(), agent_));
    std::string why;
    auto r = bridge_->AppendSubmitted(e, why);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->code, ledger::Code::kOk) << ledger::CodeName(r->code) << why;
  }
  void Stake(int64_t amount) {
    Submit(ledger::MakeStake("s:" + std::to_string(n_++), agent_.public_key(), MicroPlume(amount)));
  }
  void Unstake(int64_t amount) {
    Submit(ledger::MakeUnstake("u:" + std::to_string(n_++), agent_.public_key(),
                               MicroPlume(amount), now_ + kUnbonding));
  }
  // The core's slash of job-s/r0/w<wire - 7> for `amount`: compensation 1 PLUME to the team, a
  // finder's 0.5 PLUME, the rest to the treasury (verify/slash.h's order).
  LedgerOp SlashOp(uint64_t wire, int64_t amount) const {
    LedgerOp op;
    op.task = "job-s/r0/w" + std::to_string(wire - 7);
    op.id = "slash:" + op.task;
    op.kind = LedgerOpKind::kSlash;
    op.job = "job-s";
    op.owner = team_.Id();
    op.node = agent_.Id();
    op.attempt = 1;
    op.amount_micro_plume = amount;
    op.legs = {SlashLeg{1, team(), 1'000'000}, SlashLeg{3, finder(), 500'000},
               SlashLeg{0, "treasury", amount - 1'500'000}};
    op.memo = "audit/1 slash/1 task " + op.task + " outputs aa bb aa p_ppm 1000000 pay 7";
    return op;
  }
  int64_t BalanceOf(const std::string& account) const {
    return bridge_->ledger().Balance(account).value_or(MicroPlume(-1)).value();
  }
  std::string team() const { return ledger::TeamAccount(team_.public_key()); }
  std::string finder() const { return ledger::ProviderAccount(finder_.public_key()); }

  static constexpr int64_t kUnbonding = 60'000;
  uint64_t now_ = 1'700'000'000'000;
  int n_ = 0;
  Identity agent_ = Identity::Generate();
  Identity finder_ = Identity::Generate();
  const std::string provider_ = ledger::ProviderAccount(agent_.public_key());
};

TEST_F(LedgerBridgeStakeTest, SlashCarriesTheKeptReceiptIsCutToTheStakeAndAppliesOnce) {
  Stake(3'000'000);
  // The faulty run's result was accepted (its settle kept) and never settled.
  ASSERT_TRUE(bridge_->KeepSettle(AgentSigned(ledger_id(), agent_, 1'000, 1'000)).value_or(false));
  (void)bridge_->TakeStakeChanges();
  const LedgerOp op = SlashOp(7, 5'000'000);  // planned from an older view of the stake
  std::string refusal;
  auto r = bridge_->Apply(op, refusal);
  ASSERT_TRUE(r && *r) << refusal;
  // Cut in order: compensation and finder whole, the treasury gets what is left of 3 PLUME.
  EXPECT_EQ(BalanceOf(ledger::StakeAccount(agent_.public_key())), 0);
  EXPECT_EQ(BalanceOf(team()), 1'000'000);
  EXPECT_EQ(BalanceOf(finder()), 500'000);
  EXPECT_EQ(BalanceOf("treasury"), 1'500'000);
  auto index = bridge_->ledger().IndexOf(op.id);
  ASSERT_TRUE(index);
  const ledger::Entry slash = bridge_->ledger().ReadEntry(*index)->entry;
  EXPECT_EQ(slash.type, ledger::EntryType::kSlash);
  EXPECT_EQ(slash.amount, MicroPlume(3'000'000));
  ASSERT_TRUE(slash.receipt);
  EXPECT_EQ(slash.receipt->agent, agent_.public_key());
  EXPECT_EQ(slash.receipt->task_id, "7");
  EXPECT_EQ(slash.memo, op.memo);
  EXPECT_EQ(bridge_->TakeStakeChanges(), std::vector<std::string>{agent_.Id()});

  // Re-sent (a restart re-sends the outbox): the same slash, once.
  const uint64_t size = bridge_->ledger().size();
  for (int i = 0; i < 2; ++i) {
    r = bridge_->Apply(op, refusal);
    ASSERT_TRUE(r && *r) << refusal;
  }
  EXPECT_EQ(bridge_->ledger().size(), size);
  EXPECT_TRUE(bridge_->ledger().CheckInvariants());
}

TEST_F(LedgerBridgeStakeTest, WithoutAKeptReceiptOrStakeNothingIsSlashed) {
  Stake(3'000'000);
  std::string refusal;
  // No receipt of this run was kept: the ledger could not be shown the fault.
  auto r = bridge_->Apply(SlashOp(8, 2'000'000), refusal);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  EXPECT_NE(refusal.find("no countersigned receipt"), std::string::npos) << refusal;
  // A receipt of another agent's run does not convict this one.
  const Identity other = Identity::Generate();
  ASSERT_TRUE(bridge_->KeepSettle(AgentSigned(ledger_id(), other, 1'000, 1'000, 9)).value_or(false));
  r = bridge_->Apply(SlashOp(9, 2'000'000), refusal);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  EXPECT_EQ(BalanceOf(ledger::StakeAccount(agent_.public_key())), 3'000'000);
  // Nothing staked at all: refused, said why.
  const Identity broke = Identity::Generate();
  ASSERT_TRUE(bridge_->KeepSettle(AgentSigned(ledger_id(), broke, 1'000, 1'000, 10)).value_or(false));
  LedgerOp op = SlashOp(10, 2'000'000);
  op.node = broke.Id();
  r = bridge_->Apply(op, refusal);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  EXPECT_NE(refusal.find("nothing to slash"), std::string::npos) << refusal;
  EXPECT_FALSE(bridge_->ledger().IndexOf(op.id));
}

TEST_F(LedgerBridgeStakeTest, UnbondingIsSlashableAndWithdrawnOnlyOnceReleased) {
  Stake(4'000'000);
  Unstake(3'000'000);  // released at now + 60 s
  const std::string unbond = ledger::UnbondAccount(agent_.public_key());
  ASSERT_EQ(bridge_->WithdrawMatured().value_or(99), 0u);
  // A fault proven during unbonding: the stake first, then the tranche.
  ASSERT_TRUE(bridge_->KeepSettle(AgentSigned(ledger_id(), agent_, 1'000, 1'000)).value_or(false));
  std::string refusal;
  ASSERT_TRUE(bridge_->Apply(SlashOp(7, 2'000'000), refusal).value_or(false)) << refusal;
  EXPECT_EQ(BalanceOf(ledger::StakeAccount(agent_.public_key())), 0);
  EXPECT_EQ(BalanceOf(unbond), 2'000'000);

  now_ += kUnbonding - 1;  // one millisecond early: nothing released
  ASSERT_EQ(bridge_->WithdrawMatured().value_or(99), 0u);
  EXPECT_EQ(BalanceOf(unbond), 2'000'000);
  (void)bridge_->TakeStakeChanges();
  now_ += 1;
  ASSERT_EQ(bridge_->WithdrawMatured().value_or(99), 1u);
  EXPECT_EQ(BalanceOf(unbond), 0);
  EXPECT_EQ(BalanceOf(provider_), 10'000'000 - 4'000'000 + 2'000'000);
  EXPECT_EQ(bridge_->TakeStakeChanges(), std::vector<std::string>{agent_.Id()});
  ASSERT_EQ(bridge_->WithdrawMatured().value_or(99), 0u) << "withdrawn twice";

  // A restart with a tranche still unbonding: found again from the ledger, withdrawn when due.
  Stake(1'000'000);
  Unstake(1'000'000);
  bridge_.reset();
  auto reopened =
      LedgerBridge::Open(dir_, scheduler_, op_.public_key(), std::chrono::milliseconds(0));
  ASSERT_TRUE(reopened) << reopened.error().message;
  bridge_ = std::move(*reopened);
  UseClock();
  now_ += kUnbonding;
  ASSERT_EQ(bridge_->WithdrawMatured().value_or(99), 1u);
  EXPECT_EQ(BalanceOf(unbond), 0);
  EXPECT_EQ(BalanceOf(provider_), 8'000'000);
  EXPECT_TRUE(bridge_->ledger().CheckInvariants());
}

}  // namespace
}  // namespace plume::scheduler
