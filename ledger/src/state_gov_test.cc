// Governance entries under the ledger's rules: the deposit moves to deposit:<p> and comes back
// (or is burned on a veto), votes count only while voting is open, one outcome, one execution,
// only after the timelock of a passed proposal, a grant exactly as proposed; who must sign each;
// shapes that would give one meaning two encodings. Every refusal changes nothing; every step
// checks the invariants, and the invariant check is shown to catch a hand-broken deposit.
#include <gtest/gtest.h>

#include <map>

#include "plume/ledger/gov.h"
#include "plume/ledger/state.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Signed;

constexpr uint64_t kOpen = 10'000;
constexpr uint64_t kEnd = 20'000;
constexpr uint64_t kTimelock = 5'000;
constexpr int64_t kDeposit = 300;

class GovStateTest : public ::testing::Test {
 protected:
  // Teams have 1000 each; agent 0 has 100 staked; the treasury 500.
  void SetUp() override {
    for (const Entry& e : test::Genesis(cast_, MicroPlume(1000))) ASSERT_EQ(Run(e), Code::kOk);
    ASSERT_EQ(Run(Signed(cast_.id, MakeMint("m", cast_.provider(0), MicroPlume(100)),
                         cast_.operator_id)),
              Code::kOk);
    ASSERT_EQ(Run(Signed(cast_.id, MakeMint("t", std::string(kTreasury), MicroPlume(500)),
                         cast_.operator_id)),
              Code::kOk);
    ASSERT_EQ(Run(Signed(cast_.id, MakeStake("s", agent(), MicroPlume(100)), cast_.agents[0])),
              Code::kOk);
  }
  const PublicKey& agent() const { return cast_.agents[0].public_key(); }
  Code Run(const Entry& e) {
    Code code = Authorize(e, cast_.keys());
    if (code == Code::kOk) code = state_.Apply(e, BodyHash(e)).code;
    auto inv = state_.CheckInvariants();
    EXPECT_TRUE(inv.has_value()) << inv.error().message;
    return code;
  }
  void Refused(const Entry& e, Code want) {
    const auto balances = Balances();
    const auto proposals = state_.proposals();
    EXPECT_EQ(Run(e), want) << e.id;
    EXPECT_EQ(Balances(), balances) << e.id;
    EXPECT_EQ(state_.proposals(), proposals) << e.id;
  }
  std::map<std::string, MicroPlume> Balances() const {
    return {state_.balances().begin(), state_.balances().end()};
  }
  int64_t Bal(const std::string& a) const { return state_.Balance(a).value_or(MicroPlume(-1)).value(); }
  ProposalBody ParamBody() const {
    ProposalBody b;
    b.param = "fee_bps";
    b.value = 300;
    b.voting_end_ms = kEnd;
    b.timelock_ms = kTimelock;
    b.quorum_ppm = 334'000;
    b.threshold_ppm = 500'000;
    b.veto_ppm = 334'000;
    return b;
  }
  Entry Proposal(const std::string& id, const ProposalBody& b, int64_t deposit = kDeposit) {
    return Signed(cast_.id, MakeProposal(id, cast_.team(0), MicroPlume(deposit), kOpen, b),
                  cast_.teams[0], cast_.ledger);
  }
  Entry Vote(const std::string& id, const std::string& p, uint64_t at) {
    return Signed(cast_.id, MakeVote(id, agent(), at, VoteBody{p, VoteOption::kYes}),
                  cast_.agents[0], cast_.ledger);
  }
  Entry Outcome(const std::string& p, OutcomeResult r, uint64_t at) {
    OutcomeBody b;
    b.proposal = p;
    b.result = r;
    const std::string to = r == OutcomeResult::kVetoed ? std::string(kBurned) : cast_.team(0);
    return Signed(cast_.id, MakeOutcome(MicroPlume(kDeposit), to, at, b), cast_.ledger);
  }
  Entry Execution(const std::string& p, uint64_t at, std::string to = "", int64_t amount = 0) {
    return Signed(cast_.id, MakeExecution(p, std::move(to), MicroPlume(amount), at),
                  cast_.ledger);
  }

  test::Cast cast_;
  State state_;
};

TEST_F(GovStateTest, PassedProposalRefundsTheDepositAndExecutesAfterTheTimelock) {
  ASSERT_EQ(Run(Proposal("p1", ParamBody())), Code::kOk);
  EXPECT_EQ(Bal(cast_.team(0)), 1000 - kDeposit);
  EXPECT_EQ(Bal("deposit:p1"), kDeposit);
  Refused(Vote("v0", "p1", kOpen - 1), Code::kVotingClosed);  // before voting opened
  EXPECT_EQ(Run(Vote("v1", "p1", kOpen + 1)), Code::kOk);
  EXPECT_EQ(Run(Vote("v2", "p1", kEnd - 1)), Code::kOk);  // a later vote is fine
  Refused(Vote("v3", "p1", kEnd), Code::kVotingClosed);
  Refused(Outcome("p1", OutcomeResult::kPassed, kEnd - 1), Code::kVotingOpen);
  Refused(Execution("p1", kEnd + kTimelock), Code::kNotAdopted);  // no outcome yet
  ASSERT_EQ(Run(Outcome("p1", OutcomeResult::kPassed, kEnd)), Code::kOk);
  EXPECT_EQ(Bal(cast_.team(0)), 1000);
  EXPECT_EQ(Bal("deposit:p1"), 0);
  Refused(Vote("v4", "p1", kOpen + 2), Code::kVotingClosed);  // decided: closed whatever at_ms
  Refused(Execution("p1", kEnd + kTimelock - 1), Code::kTimelocked);
  ASSERT_EQ(Run(Execution("p1", kEnd + kTimelock)), Code::kOk);
  EXPECT_TRUE(state_.Proposal("p1")->executed);
  // The same id again is a retry (applied once); another execution is refused.
  EXPECT_EQ(state_.Apply(Execution("p1", kEnd + kTimelock), {}).code, Code::kIdConflict);
}

TEST_F(GovStateTest, VetoBurnsTheDepositAndNothingExecutes) {
  ASSERT_EQ(Run(Proposal("p1", ParamBody())), Code::kOk);
  // The refund of a vetoed proposal must go to burned, a refund to the proposer otherwise.
  Entry wrong = MakeOutcome(MicroPlume(kDeposit), cast_.team(0), kEnd,
                            OutcomeBody{"p1", {}, {}, {}, {}, {}, 0, OutcomeResult::kVetoed});
  Refused(Signed(cast_.id, wrong, cast_.ledger), Code::kInvalid);
  ASSERT_EQ(Run(Outcome("p1", OutcomeResult::kVetoed, kEnd)), Code::kOk);
  EXPECT_EQ(Bal(std::string(kBurned)), kDeposit);
  EXPECT_EQ(Bal(cast_.team(0)), 1000 - kDeposit);
  Refused(Execution("p1", kEnd + kTimelock), Code::kNotAdopted);
  // Nothing debits burned.
  Refused(Signed(cast_.id, MakeTransfer("x", std::string(kBurned), cast_.team(0), MicroPlume(1)),
                 cast_.operator_id),
          Code::kInvalid);
}

TEST_F(GovStateTest, GrantMovesExactlyTheProposedAmountFromTheTreasury) {
  ProposalBody b = ParamBody();
  b.kind = ProposalKind::kGrant;
  b.param.clear();
  b.value = 0;
  b.grant_to = cast_.provider(1);
  b.grant_amount = MicroPlume(400);
  b.purpose = "port the kernels";
  ASSERT_EQ(Run(Proposal("g1", b)), Code::kOk);
  ASSERT_EQ(Run(Outcome("g1", OutcomeResult::kPassed, kEnd)), Code::kOk);
  Refused(Execution("g1", kEnd + kTimelock, cast_.provider(1), 401), Code::kInvalid);
  Refused(Execution("g1", kEnd + kTimelock, cast_.provider(0), 400), Code::kInvalid);
  Refused(Execution("g1", kEnd + kTimelock), Code::kInvalid);  // a grant must move money
  ASSERT_EQ(Run(Execution("g1", kEnd + kTimelock, cast_.provider(1), 400)), Code::kOk);
  EXPECT_EQ(Bal(std::string(kTreasury)), 100);
  EXPECT_EQ(Bal(cast_.provider(1)), 400);
}

TEST_F(GovStateTest, SignaturesAreRequired) {
  const Entry p = MakeProposal("p1", cast_.team(0), MicroPlume(kDeposit), kOpen, ParamBody());
  Refused(Signed(cast_.id, p, cast_.teams[0]), Code::kBadSignature);  // no ledger key
  Refused(Signed(cast_.id, p, cast_.ledger), Code::kBadSignature);    // no proposer
  Refused(Signed(cast_.id, p, cast_.teams[1], cast_.ledger), Code::kBadSignature);
  ASSERT_EQ(Run(Proposal("p1", ParamBody())), Code::kOk);
  const Entry v = MakeVote("v1", agent(), kOpen + 1, VoteBody{"p1", VoteOption::kNo});
  Refused(Signed(cast_.id, v, cast_.ledger), Code::kBadSignature);  // not the staker's key
  Refused(Signed(cast_.id, v, cast_.agents[1], cast_.ledger), Code::kBadSignature);
  OutcomeBody o{"p1", {}, {}, {}, {}, {}, 0, OutcomeResult::kRejected};
  Refused(Signed(cast_.id, MakeOutcome(MicroPlume(kDeposit), cast_.team(0), kEnd, o),
                 cast_.operator_id),
          Code::kBadSignature);
}

TEST_F(GovStateTest, ShapesAndMoneyAreChecked) {
  Refused(Proposal("p1", ParamBody(), 1001), Code::kInsufficientBalance);
  ProposalBody b = ParamBody();
  b.voting_end_ms = kOpen;  // voting must end after it opens
  Refused(Proposal("p1", b), Code::kInvalid);
  b = ParamBody();
  b.grant_to = cast_.provider(1);  // a parameter change with grant fields
  Refused(Proposal("p1", b), Code::kInvalid);
  Refused(Proposal("Bad Id", ParamBody()), Code::kInvalid);
  Entry stray = MakeProposal("p2", cast_.team(0), MicroPlume(kDeposit), kOpen, ParamBody());
  stray.memo = "x";
  Refused(Signed(cast_.id, stray, cast_.teams[0], cast_.ledger), Code::kInvalid);
  Entry junk = stray;
  junk.memo.clear();
  junk.body.push_back(0);  // trailing bytes in the body
  Refused(Signed(cast_.id, junk, cast_.teams[0], cast_.ledger), Code::kInvalid);
  Refused(Vote("v1", "nope", kOpen + 1), Code::kUnknownProposal);
  Refused(Outcome("nope", OutcomeResult::kPassed, kEnd), Code::kUnknownProposal);
  // A non-gov entry must keep an empty body.
  Entry t = MakeTransfer("t1", cast_.team(0), cast_.team(1), MicroPlume(1));
  t.body = {1};
  Refused(Signed(cast_.id, t, cast_.teams[0]), Code::kInvalid);
  // A voter without stake.
  ASSERT_EQ(Run(Proposal("p1", ParamBody())), Code::kOk);
  Refused(Signed(cast_.id, MakeVote("v2", cast_.agents[1].public_key(), kOpen + 1,
                                    VoteBody{"p1", VoteOption::kYes}),
                 cast_.agents[1], cast_.ledger),
          Code::kUnknownAccount);
}

TEST_F(GovStateTest, EncodingRoundTripsAndSnapshotsKeepProposals) {
  ASSERT_EQ(Run(Proposal("p1", ParamBody())), Code::kOk);
  ASSERT_EQ(Run(Outcome("p1", OutcomeResult::kVetoed, kEnd)), Code::kOk);
  const Entry e = Proposal("p2", ParamBody());
  EXPECT_EQ(Decode(Encode(e)).value(), e);
  std::vector<uint8_t> bytes;
  state_.EncodeTo(bytes);
  auto copy = State::Decode(bytes);
  ASSERT_TRUE(copy.has_value()) << copy.error().message;
  EXPECT_EQ(copy->proposals(), state_.proposals());
  EXPECT_TRUE(copy->CheckInvariants().has_value());
  // Unknown type numbers between the known ranges are refused by Decode.
  std::vector<uint8_t> raw = Encode(e);
  raw[0] = 16;  // 15 is the checkpoint (lineage.h); 16..19 are kept
  EXPECT_FALSE(Decode(raw).has_value());
  raw[0] = 24;
  EXPECT_FALSE(Decode(raw).has_value());
}

}  // namespace
}  // namespace plume::ledger
