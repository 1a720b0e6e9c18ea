// The scheduler's LedgerBridge and ledger inbox on a real ledger directory: operator mints
// through the inbox (forged ones refused with the reason on disk), escrow holds only with the
// team's signature and balance, requests re-sent after a restart applied once, releases;
// settles kept from an agent-signed receipt, paid once across a restart, and a receipt the agent
// signed with other FLOPs than the scheduler's not paid; a settle whose kept file is lost is
// paid only if the ledger has it (never taken as paid); a hold the ledger closed before is not
// the escrow of a job resubmitted over a lost database.
#include "plume/scheduler/ledger_bridge.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>

#include "plume/ledger/entry.h"
#include "plume/ledger/ledger.h"
#include "plume/ledger/receipt.h"
#include "plume/protocol/hash.h"
#include "bridge_fixture.h"

namespace plume::scheduler {
namespace {
namespace fs = std::filesystem;
using ledger::MicroPlume;

class LedgerBridgeTest : public testing::BridgeFixture {
 protected:
  void QueueMint(const std::string& id, int64_t amount, const Identity& signer) {
    ledger::Entry mint = ledger::MakeMint(id, team(), MicroPlume(amount));
    mint.signatures.push_back(ledger::SignEntry(mint, ledger_id(), signer));
    ASSERT_TRUE(WriteInboxEntry(dir_, mint));
  }
  std::string team() const { return ledger::TeamAccount(team_.public_key()); }
  LedgerOp HoldOp(const std::string& job, int64_t amount) const {
    LedgerOp op;
    op.id = "hold:" + job;
    op.kind = LedgerOpKind::kHold;
    op.job = job;
    op.owner = team_.Id();
    op.amount_micro_plume = amount;
    return op;
  }
  void SignHold(const std::string& job, int64_t amount) {
    const ledger::Entry hold = EscrowHoldEntry(job, team_.public_key(), amount);
    ASSERT_TRUE(
        bridge_->RememberHoldSignature(job, ledger::SignEntry(hold, ledger_id(), team_).signature));
  }
};

TEST_F(LedgerBridgeTest, InboxAppliesOperatorMintsOnceAndRefusesForgedOnes) {
  QueueMint("mint:forged", 5, team_);
  QueueMint("mint:1", 1000, op_);
  auto d = bridge_->DrainInbox();
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_EQ(d->applied, 1u);
  EXPECT_EQ(d->refused, 1u);
  EXPECT_EQ(ReadInboxRefusal(dir_, "mint:forged"), std::optional<std::string>("bad_signature"));
  EXPECT_EQ(bridge_->ledger().Balance(team()), MicroPlume(1000));
  QueueMint("mint:1", 1000, op_);  // the same mint queued again
  ASSERT_TRUE(bridge_->DrainInbox());
  EXPECT_EQ(bridge_->ledger().Balance(team()), MicroPlume(1000));
  for (const auto& f : fs::directory_iterator(dir_ / "inbox")) {  // every entry was taken
    EXPECT_NE(f.path().extension(), ".entry") << f.path();
  }
}

TEST_F(LedgerBridgeTest, HoldNeedsTheTeamsSignatureAndBalanceAndAppliesOnce) {
  std::string refusal;
  // No signature: refused, nothing held.
  auto r = bridge_->Apply(HoldOp("job-a", 600), refusal);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  EXPECT_NE(refusal.find("no escrow hold signature"), std::string::npos) << refusal;
  // Signed, but no credits: refused with the balance in the reason.
  SignHold("job-a", 600);
  r = bridge_->Apply(HoldOp("job-a", 600), refusal);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  EXPECT_NE(refusal.find("insufficient balance"), std::string::npos) << refusal;
  EXPECT_FALSE(bridge_->ledger().Hold("job-a"));
  // A signature for another amount does not authorise this hold.
  QueueMint("mint:1", 1000, op_);
  SignHold("job-b", 100);
  r = bridge_->Apply(HoldOp("job-b", 900), refusal);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  EXPECT_NE(refusal.find("does not match"), std::string::npos) << refusal;
  // Funded and signed: held; the same request again (a restart re-sends it) applies once.
  r = bridge_->Apply(HoldOp("job-a", 600), refusal);
  ASSERT_TRUE(r && *r) << refusal;
  r = bridge_->Apply(HoldOp("job-a", 600), refusal);
  ASSERT_TRUE(r && *r) << refusal;
  EXPECT_EQ(bridge_->ledger().Balance(team()), MicroPlume(400));
  EXPECT_EQ(bridge_->ledger().Hold("job-a")->held, MicroPlume(600));

  LedgerOp release;
  release.id = "release:job-a";
  release.kind = LedgerOpKind::kRelease;
  release.job = "job-a";
  release.owner = team_.Id();
  for (int i = 0; i < 2; ++i) {
    r = bridge_->Apply(release, refusal);
    ASSERT_TRUE(r && *r) << refusal;
  }
  EXPECT_TRUE(bridge_->ledger().Hold("job-a")->closed);
  EXPECT_EQ(bridge_->ledger().Balance(team()), MicroPlume(1000));
  // The database lost (restored from an old backup) while the ledger went on: the same submit
  // again makes the same job and hold id, which the ledger already has, closed. That hold pays
  // nobody, so it is refused rather than taken as held.
  SignHold("job-a", 600);
  r = bridge_->Apply(HoldOp("job-a", 600), refusal);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r) << "a closed hold was taken as the resubmitted job's escrow";
  EXPECT_NE(refusal.find("closed"), std::string::npos) << refusal;
  // A job whose hold was refused has nothing to release, which is not an error.
  release.id = "release:job-b";
  release.job = "job-b";
  r = bridge_->Apply(release, refusal);
  ASSERT_TRUE(r && *r) << refusal;
  EXPECT_TRUE(bridge_->ledger().CheckInvariants());
}

using testing::AgentSigned;

TEST_F(LedgerBridgeTest, SettlePaysAVerifiedReceiptOnceAcrossARestartAndNeverOtherFlops) {
  QueueMint("mint:1", 10'000'000, op_);
  SignHold("job-s", 5'000'000);
  LedgerOp hold = HoldOp("job-s", 5'000'000);
  hold.job = "job-s";
  std::string refusal;
  ASSERT_TRUE(bridge_->Apply(hold, refusal).value_or(false)) << refusal;

  const Identity agent = Identity::Generate();
  const std::string provider = ledger::ProviderAccount(agent.public_key());
  LedgerOp settle;
  settle.id = "settle:job-s/r0/w0";
  settle.kind = LedgerOpKind::kSettle;
  settle.job = "job-s";
  settle.owner = team_.Id();
  settle.task = "job-s/r0/w0";
  settle.attempt = 1;
  settle.flops = 1'000'000'000;  // the core's TaskFlops

  // The agent signed 2e9 FLOPs, the scheduler counts 1e9: not kept (false), so the core makes
  // no settle request; one made anyway finds no entry, and is refused rather than taken as paid.
  auto kept = bridge_->KeepSettle(AgentSigned(ledger_id(), agent, 2'000'000'000, 1'000'000'000));
  ASSERT_TRUE(kept) << kept.error().message;
  EXPECT_FALSE(*kept);
  EXPECT_FALSE(bridge_->Apply(settle, refusal).value_or(true));
  EXPECT_NE(refusal.find("NOT paid"), std::string::npos) << refusal;
  EXPECT_FALSE(bridge_->ledger().Balance(provider));
  EXPECT_FALSE(bridge_->ledger().Settled("job-s", "7"));

  // Signed over the scheduler's FLOPs: kept, then the scheduler "dies" before settling and the
  // restarted one re-sends the settle twice; paid once: 2e12 x 1e9 / 1e15 = 2,000,000, fee 5%.
  ASSERT_TRUE(
      bridge_->KeepSettle(AgentSigned(ledger_id(), agent, 1'000'000'000, 1'000'000'000))
          .value_or(false));
  bridge_.reset();
  auto reopened =
      LedgerBridge::Open(dir_, scheduler_, op_.public_key(), std::chrono::milliseconds(0));
  ASSERT_TRUE(reopened) << reopened.error().message;
  bridge_ = std::move(*reopened);
  for (int i = 0; i < 2; ++i) {
    auto r = bridge_->Apply(settle, refusal);
    ASSERT_TRUE(r && *r) << refusal;
  }
  EXPECT_TRUE(bridge_->ledger().Settled("job-s", "7"));
  EXPECT_EQ(bridge_->ledger().Balance(provider), MicroPlume(2'000'000));
  EXPECT_EQ(bridge_->ledger().Balance(ledger::kTreasury), MicroPlume(100'000));
  EXPECT_EQ(bridge_->ledger().Hold("job-s")->paid, MicroPlume(2'000'000));
  EXPECT_EQ(bridge_->ledger().Hold("job-s")->fees, MicroPlume(100'000));
  EXPECT_TRUE(bridge_->ledger().CheckInvariants());
}

// A kept settle whose file is lost (a power cut before it reached the disk, a damaged data
// directory) is refused loudly, not taken as paid; the ledger stays as it was.
TEST_F(LedgerBridgeTest, ALostSettleFileIsNeverTakenAsPaid) {
  QueueMint("mint:1", 10'000'000, op_);
  SignHold("job-s", 5'000'000);
  std::string refusal;
  ASSERT_TRUE(bridge_->Apply(HoldOp("job-s", 5'000'000), refusal).value_or(false)) << refusal;
  const Identity agent = Identity::Generate();
  auto kept = bridge_->KeepSettle(AgentSigned(ledger_id(), agent, 1'000'000'000, 1'000'000'000));
  ASSERT_TRUE(kept && *kept);
  for (const auto& f : fs::directory_iterator(dir_ / "settles")) fs::remove(f.path());
  LedgerOp settle;
  settle.id = "settle:job-s/r0/w0";
  settle.kind = LedgerOpKind::kSettle;
  settle.job = "job-s";
  settle.owner = team_.Id();
  settle.task = "job-s/r0/w0";
  settle.attempt = 1;
  settle.flops = 1'000'000'000;
  auto r = bridge_->Apply(settle, refusal);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r) << "a lost settle was taken as paid";
  EXPECT_NE(refusal.find("NOT paid"), std::string::npos) << refusal;
  EXPECT_FALSE(bridge_->ledger().Settled("job-s", "7"));
  EXPECT_EQ(bridge_->ledger().Hold("job-s")->paid, MicroPlume(0));
}

}  // namespace
}  // namespace plume::scheduler
