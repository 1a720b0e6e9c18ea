// Stake on its way out and stake taken: unstake into tranches, withdraw exactly what is
// released, slash with legs (stake first, then the latest tranches), one slash per fault. Every
// refusal is checked to change nothing; every step checks the invariants; the invariant check
// itself is shown to catch a hand-broken tranche.
#include <gtest/gtest.h>

#include <map>

#include "plume/ledger/limits.h"
#include "plume/ledger/state.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Cast;
using test::Signed;

constexpr uint64_t kPflop = 1'000'000'000'000'000ULL;

class StakeTest : public ::testing::Test {
 protected:
  // Agent 0 has 100 staked and 1000 free; teams have 1000 each; agent 1 nothing.
  void SetUp() override {
    for (const Entry& e : test::Genesis(cast_, MicroPlume(1000))) ASSERT_EQ(Run(e), Code::kOk);
    ASSERT_EQ(Run(Signed(cast_.id, MakeMint("m", cast_.provider(0), MicroPlume(1100)),
                         cast_.operator_id)),
              Code::kOk);
    ASSERT_EQ(Run(Signed(cast_.id, MakeStake("stake", agent_, MicroPlume(100)), cast_.agents[0])),
              Code::kOk);
  }
  // Authorize then Apply, as the Ledger does; checks the invariants after every entry.
  Code Run(const Entry& e) {
    Code code = Authorize(e, cast_.keys());
    if (code == Code::kOk) code = state_.Apply(e, BodyHash(e)).code;
    auto inv = state_.CheckInvariants();
    EXPECT_TRUE(inv.has_value()) << inv.error().message;
    return code;
  }
  // Run an entry that must be refused with `want` and must change nothing at all.
  void Refused(const Entry& e, Code want) {
    const auto balances = Balances();
    const auto tranches = state_.Unbonding(agent_);
    const uint64_t entries = state_.entry_count();
    EXPECT_EQ(Run(e), want) << e.id;
    EXPECT_EQ(Balances(), balances) << e.id;
    EXPECT_EQ(state_.Unbonding(agent_), tranches) << e.id;
    EXPECT_EQ(state_.entry_count(), entries) << e.id;
  }
  std::map<std::string, MicroPlume> Balances() const {
    return {state_.balances().begin(), state_.balances().end()};
  }
  int64_t Bal(const std::string& account) const {
    auto b = state_.Balance(account);
    return b ? b->value() : -1;
  }
  Entry Unstake(std::string id, int64_t amount, uint64_t release_at_ms) {
    return Signed(cast_.id, MakeUnstake(std::move(id), agent_, MicroPlume(amount), release_at_ms),
                  cast_.agents[0], cast_.ledger);
  }
  Entry Withdraw(std::string id, int64_t amount, uint64_t now_ms) {
    return Signed(cast_.id, MakeWithdraw(std::move(id), agent_, MicroPlume(amount), now_ms),
                  cast_.ledger);
  }
  TaskReceipt Faulty(const std::string& task, int agent = 0) {
    return test::MakeSignedReceipt(cast_.id, "job-1", task, cast_.agents[agent], cast_.ledger,
                                   kPflop, 10, 0);
  }
  // A slash of `amount`: clawback 10 and compensation 5 to team 0, finder 15 to agent 1, the
  // rest to the treasury (amount must be > 30).
  Entry Slash(std::string id, const TaskReceipt& r, int64_t amount) {
    std::vector<Leg> legs = {{LegKind::kClawback, cast_.team(0), MicroPlume(10)},
                             {LegKind::kCompensation, cast_.team(0), MicroPlume(5)},
                             {LegKind::kFinder, cast_.provider(1), MicroPlume(15)},
                             {LegKind::kTreasury, "treasury", MicroPlume(amount - 30)}};
    return MakeSlash(std::move(id), r, MicroPlume(amount), std::move(legs), "audit mismatch");
  }
  Entry Signed1(Entry e) { return Signed(cast_.id, std::move(e), cast_.ledger); }

  Cast cast_;
  State state_;
  PublicKey agent_ = cast_.agents[0].public_key();
  std::string stake_ = StakeAccount(agent_);
  std::string unbond_ = UnbondAccount(agent_);
};

TEST_F(StakeTest, UnstakeMovesStakeIntoAReleaseOrderedTranche) {
  Refused(Signed(cast_.id, MakeUnstake("u", agent_, MicroPlume(5), 1000), cast_.agents[0]),
          Code::kBadSignature);  // the scheduler must agree
  Refused(Signed(cast_.id, MakeUnstake("u", agent_, MicroPlume(5), 1000), cast_.ledger),
          Code::kBadSignature);  // and so must the agent
  Entry to_provider = MakeUnstake("u", agent_, MicroPlume(5), 1000);
  to_provider.to = cast_.provider(0);  // the old rule: straight back, no unbonding
  Refused(Signed(cast_.id, to_provider, cast_.agents[0], cast_.ledger), Code::kInvalid);
  Refused(Unstake("u", 101, 1000), Code::kInsufficientBalance);
  EXPECT_FALSE(state_.Balance(unbond_).has_value());  // not even opened by the refusal

  ASSERT_EQ(Run(Unstake("u1", 30, 2000)), Code::kOk);
  ASSERT_EQ(Run(Unstake("u2", 20, 1000)), Code::kOk);
  ASSERT_EQ(Run(Unstake("u3", 10, 2000)), Code::kOk);
  EXPECT_EQ(Bal(stake_), 40);
  EXPECT_EQ(Bal(unbond_), 60);
  EXPECT_EQ(Bal(cast_.provider(0)), 1000);  // nothing free yet
  const std::vector<Tranche> want = {
      {"u2", MicroPlume(20), 1000}, {"u1", MicroPlume(30), 2000}, {"u3", MicroPlume(10), 2000}};
  EXPECT_EQ(state_.Unbonding(agent_), want);
  EXPECT_EQ(state_.Withdrawable(agent_, 999), MicroPlume(0));
  EXPECT_EQ(state_.Withdrawable(agent_, 1000), MicroPlume(20));
  EXPECT_EQ(state_.Withdrawable(agent_, 5000), MicroPlume(60));
  EXPECT_TRUE(state_.Unbonding(cast_.agents[1].public_key()).empty());
  // Unbonding money is not spendable either.
  Refused(Signed(cast_.id, MakeTransfer("t", unbond_, cast_.provider(0), MicroPlume(1)),
                 cast_.agents[0]),
          Code::kInvalid);
}

TEST_F(StakeTest, WithdrawMovesExactlyTheReleasedTranches) {
  ASSERT_EQ(Run(Unstake("u1", 5, 1000)), Code::kOk);
  ASSERT_EQ(Run(Unstake("u2", 7, 2000)), Code::kOk);
  Refused(Withdraw("w", 5, 999), Code::kNotReleased);   // before the release
  Refused(Withdraw("w", 4, 1000), Code::kNotReleased);  // less than released
  Refused(Withdraw("w", 6, 1000), Code::kNotReleased);  // more than released
  Refused(Withdraw("w", 12, 1000), Code::kNotReleased);
  Refused(Signed(cast_.id, MakeWithdraw("w", agent_, MicroPlume(5), 1000), cast_.agents[0]),
          Code::kBadSignature);
  Refused(Signed(cast_.id, MakeWithdraw("w", agent_, MicroPlume(5), 1000), cast_.operator_id),
          Code::kBadSignature);
  Entry elsewhere = MakeWithdraw("w", agent_, MicroPlume(5), 1000);
  elsewhere.to = cast_.provider(1);
  Refused(Signed1(elsewhere), Code::kInvalid);
  Entry from_stake = MakeWithdraw("w", agent_, MicroPlume(5), 1000);
  from_stake.from = stake_;
  Refused(Signed1(from_stake), Code::kInvalid);
  // Agent 1 never unstaked: nothing is released for it.
  Refused(Signed1(MakeWithdraw("w", cast_.agents[1].public_key(), MicroPlume(1), 9999)),
          Code::kNotReleased);

  ASSERT_EQ(Run(Withdraw("w1", 5, 1000)), Code::kOk);
  EXPECT_EQ(Bal(cast_.provider(0)), 1005);
  EXPECT_EQ(Bal(unbond_), 7);
  EXPECT_EQ(state_.Unbonding(agent_), (std::vector<Tranche>{{"u2", MicroPlume(7), 2000}}));
  Refused(Withdraw("w2", 5, 1500), Code::kNotReleased);  // u1 is gone; u2 not yet released
  ASSERT_EQ(Run(Withdraw("w2", 7, 5000)), Code::kOk);
  EXPECT_EQ(Bal(cast_.provider(0)), 1012);
  EXPECT_EQ(Bal(unbond_), 0);
  EXPECT_TRUE(state_.Unbonding(agent_).empty());
  Refused(Withdraw("w3", 1, 9000), Code::kNotReleased);
}

TEST_F(StakeTest, SlashTakesStakeFirstThenTheLatestTranchesAndPaysEveryLeg) {
  ASSERT_EQ(Run(Unstake("u1", 30, 1000)), Code::kOk);
  ASSERT_EQ(Run(Unstake("u2", 20, 2000)), Code::kOk);
  ASSERT_EQ(Bal(stake_), 50);
  const int64_t team0 = Bal(cast_.team(0));
  // 75 = all 50 of the stake, then u2 (released last) in full, then 5 of u1.
  ASSERT_EQ(Run(Signed1(Slash("x1", Faulty("t1"), 75))), Code::kOk);
  EXPECT_EQ(Bal(stake_), 0);
  EXPECT_EQ(Bal(unbond_), 25);
  EXPECT_EQ(state_.Unbonding(agent_), (std::vector<Tranche>{{"u1", MicroPlume(25), 1000}}));
  EXPECT_EQ(Bal(cast_.team(0)), team0 + 15);
  EXPECT_EQ(Bal(cast_.provider(1)), 15);
  EXPECT_EQ(Bal("treasury"), 45);
  EXPECT_TRUE(state_.Slashed("job-1", "t1"));
  EXPECT_FALSE(state_.Slashed("job-1", "t2"));
  // What is left still withdraws, exactly.
  ASSERT_EQ(Run(Withdraw("w", 25, 1000)), Code::kOk);
  EXPECT_EQ(Bal(cast_.provider(0)), 1025);
}

TEST_F(StakeTest, SlashWithinTheStakeLeavesTranchesAlone) {
  ASSERT_EQ(Run(Unstake("u1", 30, 1000)), Code::kOk);
  // The operator key may slash too (the ledger key is the usual signer).
  ASSERT_EQ(Run(Signed(cast_.id, Slash("x1", Faulty("t1"), 70), cast_.operator_id)), Code::kOk);
  EXPECT_EQ(Bal(stake_), 0);
  EXPECT_EQ(state_.Unbonding(agent_), (std::vector<Tranche>{{"u1", MicroPlume(30), 1000}}));
}

TEST_F(StakeTest, SlashRefusalsChangeNothing) {
  ASSERT_EQ(Run(Unstake("u1", 30, 1000)), Code::kOk);  // slashable: 70 staked + 30 unbonding
  const TaskReceipt r = Faulty("t1");
  // Signers: only the ledger or the operator key.
  Refused(Signed(cast_.id, Slash("x", r, 40), cast_.agents[0]), Code::kBadSignature);
  Refused(Signed(cast_.id, Slash("x", r, 40), cast_.teams[0]), Code::kBadSignature);
  Refused(Slash("x", r, 40), Code::kBadSignature);
  // Legs that do not sum to the amount, or with a non-positive amount.
  Entry short_legs = Slash("x", r, 40);
  short_legs.amount = MicroPlume(41);
  Refused(Signed1(short_legs), Code::kInvalid);
  Entry zero_leg = Slash("x", r, 40);
  zero_leg.legs.push_back({LegKind::kTreasury, "treasury", MicroPlume(0)});
  Refused(Signed1(zero_leg), Code::kInvalid);
  Entry negative_leg = Slash("x", r, 40);
  negative_leg.legs[3].amount = MicroPlume(11);
  negative_leg.legs.push_back({LegKind::kTreasury, "treasury", MicroPlume(-1)});
  Refused(Signed1(negative_leg), Code::kInvalid);
  // Each kind of leg to the wrong kind of account.
  const std::vector<std::pair<size_t, std::string>> wrong_accounts = {
      {0, cast_.provider(1)},       // clawback to a provider
      {1, "treasury"},              // compensation to the treasury
      {2, cast_.team(1)},           // finder to a team
      {2, cast_.provider(0)},       // finder to the slashed provider itself
      {3, cast_.team(0)},           // treasury leg to a team
      {0, EscrowAccount("job-1")},  // clawback into an escrow
      {0, StakeAccount(cast_.agents[1].public_key())},
      {2, UnbondAccount(cast_.agents[1].public_key())},
      {0, "operator"},
  };
  for (const auto& [leg, account] : wrong_accounts) {
    Entry e = Slash("x", r, 40);
    e.legs[leg].account = account;
    Refused(Signed1(e), Code::kInvalid);
  }
  // Leg count and memo bounds.
  Entry no_legs = MakeSlash("x", r, MicroPlume(40), {}, "");
  Refused(Signed1(no_legs), Code::kInvalid);
  Entry many_legs = MakeSlash(
      "x", r, MicroPlume(kSlashLegsMax + 1),
      std::vector<Leg>(kSlashLegsMax + 1, Leg{LegKind::kTreasury, "treasury", MicroPlume(1)}), "");
  Refused(Signed1(many_legs), Code::kInvalid);
  Entry long_memo = Slash("x", r, 40);
  long_memo.memo.assign(kMemoBytesMax + 1, 'm');
  Refused(Signed1(long_memo), Code::kInvalid);
  Entry bad_memo = Slash("x", r, 40);
  bad_memo.memo = "\xc3(";
  Refused(Signed1(bad_memo), Code::kInvalid);
  // The receipt: another agent's, not countersigned, agent signature broken, other job.
  Entry others_receipt = Slash("x", Faulty("t1", 1), 40);
  others_receipt.from = stake_;  // agent 0's stake for agent 1's receipt
  Refused(Signed1(others_receipt), Code::kInvalid);
  TaskReceipt unsigned_terms = r;
  unsigned_terms.scheduler_signature = Signature{};
  Refused(Signed1(Slash("x", unsigned_terms, 40)), Code::kBadReceipt);
  TaskReceipt forged = r;
  forged.flops += 1;
  forged.scheduler_signature = Countersign(forged, cast_.id, cast_.ledger);
  Refused(Signed1(Slash("x", forged, 40)), Code::kBadReceipt);
  Entry other_job = Slash("x", r, 40);
  other_job.job = "job-2";
  Refused(Signed1(other_job), Code::kInvalid);
  Entry with_to = Slash("x", r, 40);
  with_to.to = "treasury";
  Refused(Signed1(with_to), Code::kInvalid);
  Entry no_receipt = Slash("x", r, 40);
  no_receipt.receipt.reset();
  Refused(Signed1(no_receipt), Code::kInvalid);
  // More than stake + unbonding.
  Refused(Signed1(Slash("x", r, 101)), Code::kInsufficientBalance);
  // A leg to an account never opened.
  Entry stranger = Slash("x", r, 40);
  stranger.legs[0].account = TeamAccount(Identity::Generate().public_key());
  Refused(Signed1(stranger), Code::kUnknownAccount);
  // An agent that never staked.
  const TaskReceipt r1 = Faulty("t9", 1);
  std::vector<Leg> one = {{LegKind::kTreasury, "treasury", MicroPlume(1)}};
  Refused(Signed1(MakeSlash("x", r1, MicroPlume(1), one, "")), Code::kUnknownAccount);

  // The right one, then the same fault again under another id and attempt.
  ASSERT_EQ(Run(Signed1(Slash("x", r, 100))), Code::kOk);  // everything slashable
  EXPECT_EQ(Bal(stake_), 0);
  EXPECT_EQ(Bal(unbond_), 0);
  EXPECT_TRUE(state_.Unbonding(agent_).empty());
  ASSERT_EQ(Run(Signed(cast_.id, MakeStake("stake2", agent_, MicroPlume(100)), cast_.agents[0])),
            Code::kOk);
  TaskReceipt retry = r;
  retry.attempt = 2;
  retry.agent_signature = SignAsAgent(retry, cast_.id, cast_.agents[0]);
  retry.scheduler_signature = Countersign(retry, cast_.id, cast_.ledger);
  Refused(Signed1(Slash("x-again", retry, 40)), Code::kDuplicateSlash);
  // Another task of the same job is another fault.
  EXPECT_EQ(Run(Signed1(Slash("x-t2", Faulty("t2"), 40))), Code::kOk);
}

// Decode takes a snapshot's state without checking the rules (the ledger key's signature vouches
// for it), which makes it the way to build states the rules never produce: here, to show that
// CheckInvariants notices a broken tranche rather than pass anything.
TEST_F(StakeTest, CheckInvariantsCatchesHandBrokenTranches) {
  ASSERT_EQ(Run(Unstake("u1", 11, 1000)), Code::kOk);
  ASSERT_EQ(Run(Unstake("u2", 22, 2000)), Code::kOk);
  std::vector<uint8_t> good;
  state_.EncodeTo(good);
  // Replaces each little-endian u64 `from` in the bytes by `to`; each must occur exactly once
  // (the values are picked so: no balance, count or length equals them).
  const auto patched = [&](std::vector<std::pair<int64_t, int64_t>> changes) {
    std::vector<uint8_t> bytes = good;
    for (const auto& [from, to] : changes) {
      std::vector<size_t> at;
      for (size_t i = 0; i + 8 <= good.size(); ++i) {
        uint64_t v = 0;
        for (int k = 0; k < 8; ++k) v |= static_cast<uint64_t>(good[i + k]) << (8 * k);
        if (v == static_cast<uint64_t>(from)) at.push_back(i);
      }
      EXPECT_EQ(at.size(), 1u) << from;
      for (size_t i : at) {
        for (int k = 0; k < 8; ++k) {
          bytes[i + k] = static_cast<uint8_t>(static_cast<uint64_t>(to) >> (8 * k));
        }
      }
    }
    return bytes;
  };
  auto same = State::Decode(good);
  ASSERT_TRUE(same.has_value());
  EXPECT_TRUE(same->CheckInvariants().has_value());
  auto sum_off = State::Decode(patched({{22, 21}}));
  ASSERT_TRUE(sum_off.has_value());
  auto s = sum_off->CheckInvariants();
  ASSERT_FALSE(s.has_value());
  EXPECT_NE(s.error().message.find("not the sum of its tranches"), std::string::npos)
      << s.error().message;
  // u1 -> 0 and u2 -> 33: the sum still matches the balance (33), only the empty tranche is wrong.
  auto zero = State::Decode(patched({{11, 0}, {22, 33}}));
  ASSERT_TRUE(zero.has_value());
  auto z = zero->CheckInvariants();
  ASSERT_FALSE(z.has_value());
  EXPECT_NE(z.error().message.find("has amount 0"), std::string::npos) << z.error().message;
  // u2 (after u1 in the list) now released before it.
  auto misordered = State::Decode(patched({{2000, 500}}));
  ASSERT_TRUE(misordered.has_value());
  auto o = misordered->CheckInvariants();
  ASSERT_FALSE(o.has_value());
  EXPECT_NE(o.error().message.find("release order"), std::string::npos) << o.error().message;
}

TEST_F(StakeTest, StateRoundTripsWithTranchesAndSlashes) {
  ASSERT_EQ(Run(Unstake("u1", 30, 1000)), Code::kOk);
  ASSERT_EQ(Run(Unstake("u2", 20, 2000)), Code::kOk);
  ASSERT_EQ(Run(Signed1(Slash("x1", Faulty("t1"), 60))), Code::kOk);
  std::vector<uint8_t> bytes;
  state_.EncodeTo(bytes);
  auto back = State::Decode(bytes);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->Unbonding(agent_), state_.Unbonding(agent_));
  EXPECT_TRUE(back->Slashed("job-1", "t1"));
  EXPECT_TRUE(back->CheckInvariants().has_value());
  using Sorted = std::map<std::string, MicroPlume>;
  EXPECT_EQ(Sorted(back->balances().begin(), back->balances().end()), Balances());
  // The decoded state goes on by the same rules: the fault stays slashed, tranches withdraw.
  state_ = std::move(*back);
  Refused(Signed1(Slash("x1-again", Faulty("t1"), 31)), Code::kDuplicateSlash);
  ASSERT_EQ(Run(Withdraw("w", 30, 1000)), Code::kOk);
  // Every cut of the bytes is refused, never misread.
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    EXPECT_FALSE(State::Decode(std::span(bytes).first(cut)).has_value()) << cut;
  }
}

}  // namespace
}  // namespace plume::ledger
