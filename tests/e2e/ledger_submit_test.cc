// LedgerSubmit at the scheduler's ledger side (LedgerBridge::Answer / AppendSubmitted) on a real
// ledger directory, every request and reply through the real encoder and decoder. Shown: a
// transfer signed by the from account's owner is applied (opening the credited account) and
// applied once on a retry; signed by anyone else, or beyond the balance, it is refused with the
// ledger's code and changes nothing, not even an account open; a provider's stake is signed by
// its own key and reported as a stake change; entries only the scheduler makes (settles,
// releases, opens) and oversized or undecodable bytes are refused before the ledger sees them.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "bridge_fixture.h"
#include "plume/data/publish_limit.h"
#include "plume/data/terms.h"
#include "plume/ledger/data_entries.h"
#include "plume/ledger/entry.h"
#include "plume/ledger/limits.h"
#include "plume/protocol/message.h"
#include "plume/scheduler/ledger_bridge.h"

namespace plume::scheduler {
namespace {
using ledger::MicroPlume;

class LedgerSubmitTest : public testing::BridgeFixture {
 protected:
  void SetUp() override {
    BridgeFixture::SetUp();
    ledger::Entry mint = ledger::MakeMint("mint:p", provider_, MicroPlume(5'000'000));
    mint.signatures.push_back(ledger::SignEntry(mint, ledger_id(), op_));
    auto minted = bridge_->AppendMint(mint);
    ASSERT_TRUE(minted);
    ASSERT_EQ(minted->code, ledger::Code::kOk);
    (void)bridge_->TakeStakeChanges();
  }
  Message Submit(const ledger::Entry& e) { return SubmitBytes(ledger::Encode(e)); }
  Message SubmitBytes(const std::vector<uint8_t>& bytes) {
    MessageBuilder request(1, agent_.public_key());
    request.body().initLedgerSubmit().setEntry(AsData(bytes));
    auto frame = request.Encode();
    EXPECT_TRUE(frame);
    auto decoded = Decode(*frame);
    EXPECT_TRUE(decoded) << decoded.error().message;
    MessageBuilder reply(1, scheduler_.public_key());
    bridge_->Answer(decoded->body(), "", reply.body());
    auto back = Decode(*reply.Encode());
    EXPECT_TRUE(back) << back.error().message;
    return std::move(*back);
  }
  ledger::Entry Signed(ledger::Entry e, const Identity& by) {
    e.signatures.push_back(ledger::SignEntry(e, ledger_id(), by));
    return e;
  }
  std::string Refusal(const Message& m) {
    EXPECT_EQ(m.kind(), MessageKind::ERROR);
    return m.kind() == MessageKind::ERROR ? m.body().getError().getMessage().cStr() : "";
  }
  int64_t BalanceOf(const std::string& account) {
    return bridge_->ledger().Balance(account).value_or(MicroPlume(-1)).value();
  }

  Identity agent_ = Identity::Generate();
  const std::string provider_ = ledger::ProviderAccount(agent_.public_key());
  const std::string team_account_ = ledger::TeamAccount(team_.public_key());
};

TEST_F(LedgerSubmitTest, TransferByTheOwnerOnlyAndOnce) {
  const uint64_t size_before = bridge_->ledger().size();
  // Signed by the recipient, not by the owner of the debited account: refused, nothing written.
  Message forged =
      Submit(Signed(ledger::MakeTransfer("t:1", provider_, team_account_, MicroPlume(10)), team_));
  EXPECT_EQ(forged.body().getError().getCode(), wire::ErrorCode::UNAUTHORIZED);
  EXPECT_NE(Refusal(forged).find("bad_signature"), std::string::npos) << Refusal(forged);
  EXPECT_EQ(BalanceOf(team_account_), -1) << "a refused transfer opened the account";
  EXPECT_EQ(bridge_->ledger().size(), size_before);

  // More than the balance: refused with its code, nothing opened.
  Message broke = Submit(
      Signed(ledger::MakeTransfer("t:2", provider_, team_account_, MicroPlume(9'000'000)), agent_));
  EXPECT_EQ(broke.body().getError().getCode(), wire::ErrorCode::INSUFFICIENT_FUNDS);
  EXPECT_NE(Refusal(broke).find("insufficient_balance"), std::string::npos) << Refusal(broke);
  EXPECT_EQ(BalanceOf(team_account_), -1);
  EXPECT_EQ(bridge_->ledger().size(), size_before);

  const ledger::Entry good =
      Signed(ledger::MakeTransfer("t:3", provider_, team_account_, MicroPlume(1'500'000)), agent_);
  for (bool repeated : {false, true}) {
    Message ok = Submit(good);
    ASSERT_EQ(ok.kind(), MessageKind::LEDGER_REPLY) << Refusal(ok);
    EXPECT_EQ(ok.body().getLedgerReply().getApplied().getRepeated(), repeated);
    EXPECT_EQ(std::string(ok.body().getLedgerReply().getApplied().getEntryId().cStr()), "t:3");
  }
  EXPECT_EQ(BalanceOf(team_account_), 1'500'000);
  EXPECT_EQ(BalanceOf(provider_), 3'500'000);
  EXPECT_TRUE(bridge_->TakeStakeChanges().empty()) << "a transfer touches no stake";
}

TEST_F(LedgerSubmitTest, StakeIsTheAgentsOwnAndReportedAsAStakeChange) {
  // The operator cannot stake a provider's money, nor can the team.
  for (const Identity* by : {&op_, &team_}) {
    Message refused =
        Submit(Signed(ledger::MakeStake("s:x", agent_.public_key(), MicroPlume(1)), *by));
    EXPECT_NE(Refusal(refused).find("bad_signature"), std::string::npos) << Refusal(refused);
  }
  Message broke =
      Submit(Signed(ledger::MakeStake("s:0", agent_.public_key(), MicroPlume(6'000'000)), agent_));
  EXPECT_NE(Refusal(broke).find("insufficient_balance"), std::string::npos);
  EXPECT_EQ(bridge_->StakeOf(agent_.public_key()).staked, 0);
  EXPECT_TRUE(bridge_->TakeStakeChanges().empty());

  Message ok =
      Submit(Signed(ledger::MakeStake("s:1", agent_.public_key(), MicroPlume(2'000'000)), agent_));
  ASSERT_EQ(ok.kind(), MessageKind::LEDGER_REPLY) << Refusal(ok);
  EXPECT_EQ(bridge_->StakeOf(agent_.public_key()).staked, 2'000'000);
  EXPECT_EQ(BalanceOf(provider_), 3'000'000);
  EXPECT_EQ(bridge_->TakeStakeChanges(), std::vector<std::string>{agent_.Id()});
  EXPECT_TRUE(bridge_->TakeStakeChanges().empty()) << "each change is reported once";
}

// The provider signs its tranche's release time; the bridge countersigns only a time that keeps
// the stake slashable for the whole unbonding period from now (and not absurdly longer).
TEST_F(LedgerSubmitTest, UnstakeReleaseTimeIsCheckedThenCountersigned) {
  constexpr uint64_t kNow = 1'700'000'000'000;
  constexpr int64_t kUnbonding = 3'600'000;
  uint64_t now = kNow;
  bridge_->set_clock([&now] { return now; });
  bridge_->set_unbonding_ms(kUnbonding);
  ASSERT_EQ(Submit(Signed(ledger::MakeStake("s:1", agent_.public_key(), MicroPlume(3'000'000)),
                          agent_))
                .kind(),
            MessageKind::LEDGER_REPLY);
  (void)bridge_->TakeStakeChanges();

  // The terms a client signs against.
  MessageBuilder ask(1, agent_.public_key());
  ask.body().initLedgerQuery().setStakeTerms();
  auto decoded = Decode(*ask.Encode());
  MessageBuilder terms(1, scheduler_.public_key());
  bridge_->Answer(decoded->body(), "", terms.body());
  auto t = terms.body().getLedgerReply().getStakeTerms();
  EXPECT_EQ(t.getNowUnixMs(), kNow);
  EXPECT_EQ(t.getUnbondingMs(), static_cast<uint64_t>(kUnbonding));
  EXPECT_EQ(t.getUnstakeSkewMs(), static_cast<uint64_t>(kUnstakeSkewMs));

  const uint64_t earliest = kNow + kUnbonding;
  auto unstake = [&](const std::string& id, uint64_t at, const Identity& by) {
    return Submit(Signed(ledger::MakeUnstake(id, agent_.public_key(), MicroPlume(1'000'000), at),
                         by));
  };
  const uint64_t size_before = bridge_->ledger().size();
  for (uint64_t bad : {earliest - 1, kNow, earliest + kUnstakeSkewMs + 1, uint64_t{0}}) {
    Message refused = unstake("u:bad", bad, agent_);
    EXPECT_EQ(refused.body().getError().getCode(), wire::ErrorCode::BAD_MESSAGE) << bad;
    EXPECT_NE(Refusal(refused).find("release time"), std::string::npos) << Refusal(refused);
  }
  // Someone else's signature is not countersigned.
  EXPECT_NE(Refusal(unstake("u:forged", earliest, team_)).find("bad_signature"),
            std::string::npos);
  EXPECT_EQ(bridge_->ledger().size(), size_before);
  EXPECT_TRUE(bridge_->TakeStakeChanges().empty());

  for (uint64_t at : {earliest, earliest + kUnstakeSkewMs}) {
    Message ok = unstake("u:" + std::to_string(at), at, agent_);
    ASSERT_EQ(ok.kind(), MessageKind::LEDGER_REPLY) << Refusal(ok);
  }
  // A retry of an applied unstake, however late, is answered as applied once.
  now += 10 * kUnbonding;
  Message retried = unstake("u:" + std::to_string(earliest), earliest, agent_);
  ASSERT_EQ(retried.kind(), MessageKind::LEDGER_REPLY) << Refusal(retried);
  EXPECT_TRUE(retried.body().getLedgerReply().getApplied().getRepeated());
  EXPECT_EQ(bridge_->StakeOf(agent_.public_key()).staked, 1'000'000);
  EXPECT_EQ(bridge_->StakeOf(agent_.public_key()).unbonding, 2'000'000);
  EXPECT_EQ(bridge_->TakeStakeChanges(), std::vector<std::string>{agent_.Id()});
  // The unbond account's balance answer lists the tranches and their release times.
  const std::string unbond = ledger::UnbondAccount(agent_.public_key());
  MessageBuilder q(1, agent_.public_key());
  q.body().initLedgerQuery().setBalance(unbond);
  auto qd = Decode(*q.Encode());
  MessageBuilder a(1, scheduler_.public_key());
  bridge_->Answer(qd->body(), unbond, a.body());
  auto tranches = a.body().getLedgerReply().getBalance().getTranches();
  ASSERT_EQ(tranches.size(), 2u);
  EXPECT_EQ(tranches[0].getReleaseAtMs(), earliest);
  EXPECT_EQ(tranches[1].getReleaseAtMs(), earliest + kUnstakeSkewMs);
  EXPECT_EQ(tranches[0].getAmountMicroPlume(), 1'000'000);
}

TEST_F(LedgerSubmitTest, OnlyClientEntriesAndBoundedBytes) {
  const uint64_t size_before = bridge_->ledger().size();
  // An open, a release: entries the scheduler makes itself, whoever signed them.
  for (const ledger::Entry& e :
       {Signed(ledger::MakeOpenAccount("o:1", team_account_), scheduler_),
        Signed(ledger::MakeRelease("r:1", "job-1", team_account_), scheduler_)}) {
    Message refused = Submit(e);
    EXPECT_EQ(refused.body().getError().getCode(), wire::ErrorCode::BAD_MESSAGE);
    EXPECT_NE(Refusal(refused).find("cannot be submitted"), std::string::npos) << Refusal(refused);
  }
  Message garbage = SubmitBytes({1, 2, 3});
  EXPECT_EQ(garbage.body().getError().getCode(), wire::ErrorCode::BAD_MESSAGE);
  Message huge = SubmitBytes(std::vector<uint8_t>(ledger::kRecordBytesMax + 1, 0));
  EXPECT_EQ(huge.body().getError().getCode(), wire::ErrorCode::TOO_LARGE);
  // LedgerMint carries mints only.
  MessageBuilder request(1, agent_.public_key());
  const std::vector<uint8_t> stake = ledger::Encode(
      Signed(ledger::MakeStake("s:m", agent_.public_key(), MicroPlume(1)), agent_));
  request.body().initLedgerMint().setEntry(AsData(stake));
  auto decoded = Decode(*request.Encode());
  MessageBuilder reply(1, scheduler_.public_key());
  bridge_->Answer(decoded->body(), "", reply.body());
  EXPECT_EQ(reply.body().getError().getCode(), wire::ErrorCode::BAD_MESSAGE);
  EXPECT_EQ(bridge_->ledger().size(), size_before);
}

// The operator's publish bound against a hostile key that publishes past it: refused with the
// reason and the flag named, nothing appended, other keys unaffected, a retry of an applied
// publish still answered; and a minimum balance that an unfunded key does not meet.
TEST_F(LedgerSubmitTest, PublishesPastTheOperatorsBoundAreRefused) {
  bridge_->set_publish_limits(data::PublishLimits{2, 0});
  const Identity spammer = Identity::Generate();
  const auto publish = [&](const Identity& owner, int n) {
    data::Terms t;
    t.owner = owner.public_key();
    t.name = "set " + std::to_string(n);
    t.blob_hash = Blake2b256(t.name);
    t.bytes = t.tokens = 1000;
    t.any_team = true;
    return Signed(ledger::MakeDatasetPublish(t), owner);
  };
  for (int n = 0; n < 2; ++n) {
    Message ok = Submit(publish(spammer, n));
    ASSERT_EQ(ok.kind(), MessageKind::LEDGER_REPLY) << Refusal(ok);
  }
  const uint64_t size = bridge_->ledger().size();
  for (int n = 2; n < 5; ++n) {
    const ledger::Entry e = publish(spammer, n);
    Message refused = Submit(e);
    const std::string why = Refusal(refused);
    EXPECT_NE(why.find("publish limit"), std::string::npos) << why;
    EXPECT_NE(why.find("published 2 datasets"), std::string::npos) << why;
    EXPECT_NE(why.find("--data-publishes-per-key-max 2"), std::string::npos) << why;
    EXPECT_FALSE(bridge_->ledger().IndexOf(e.id)) << e.id;
  }
  EXPECT_EQ(bridge_->ledger().size(), size);
  // A retry of an applied publish is answered as applied, not counted again.
  EXPECT_EQ(Submit(publish(spammer, 1)).kind(), MessageKind::LEDGER_REPLY);
  EXPECT_EQ(bridge_->ledger().DatasetsPublishedBy(spammer.public_key()), 2u);
  // Another key has its own count.
  EXPECT_EQ(Submit(publish(agent_, 0)).kind(), MessageKind::LEDGER_REPLY);

  // A minimum balance: an unfunded key is refused, the same key funded is not.
  bridge_->set_publish_limits(data::PublishLimits{0, 1'000'000});
  const Identity fresh = Identity::Generate();
  const std::string why = Refusal(Submit(publish(fresh, 0)));
  EXPECT_NE(why.find("at least 1000000 micro-PLUME"), std::string::npos) << why;
  ledger::Entry mint = Signed(
      ledger::MakeMint("mint:fresh", ledger::TeamAccount(fresh.public_key()), MicroPlume(1'000'000)),
      op_);
  ASSERT_EQ(bridge_->AppendMint(mint)->code, ledger::Code::kOk);
  EXPECT_EQ(Submit(publish(fresh, 0)).kind(), MessageKind::LEDGER_REPLY);
  // The count is off now, but the unfunded spammer is under the balance.
  EXPECT_NE(Refusal(Submit(publish(spammer, 5))).find("holds 0"), std::string::npos);
}

}  // namespace
}  // namespace plume::scheduler
