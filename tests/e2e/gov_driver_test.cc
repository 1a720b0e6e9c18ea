// The scheduler's governance driver over a real ledger directory (LedgerBridge), with its clock
// set by the test: outcomes and executions appended when due and only then, a parameter change
// reported to the core once, a restart (driver and bridge reopened) deriving the parameters from
// the ledger without executing twice; and hostile requests (bytes that are no entry, the wrong
// type, an out-of-bounds value, a vote without power, after the end, the 17th vote) refused with
// nothing written.
#include <gtest/gtest.h>

#include <capnp/message.h>

#include "bridge_fixture.h"
#include "plume/gov/proposal.h"
#include "plume/ledger/gov.h"
#include "plume/scheduler/gov_driver.h"

namespace plume::scheduler {
namespace {
using ledger::MicroPlume;

class GovDriverTest : public testing::BridgeFixture {
 protected:
  void SetUp() override {
    BridgeFixture::SetUp();
    bridge_->set_unbonding_ms(1000);
    bridge_->set_clock([this] { return now_; });
    params_.Set(gov::Param::kVotingPeriodMs, 5000);
    params_.Set(gov::Param::kTimelockMs, 2000);
    for (const std::string& a : {team(), ledger::ProviderAccount(agent_.public_key())}) {
      ledger::Entry mint = ledger::MakeMint("mint:" + a.substr(0, 12), a, MicroPlume(1'000'000'000));
      mint.signatures.push_back(ledger::SignEntry(mint, ledger_id(), op_));
      ASSERT_EQ(bridge_->AppendMint(mint)->code, ledger::Code::kOk);
    }
    ledger::Entry stake = ledger::MakeStake("stake", agent_.public_key(), MicroPlume(500'000'000));
    stake.signatures.push_back(ledger::SignEntry(stake, ledger_id(), agent_));
    std::string why;
    ASSERT_EQ(bridge_->AppendSubmitted(stake, why)->code, ledger::Code::kOk) << why;
    Open();
  }
  void Open() {
    auto d = GovDriver::Open(*bridge_, scheduler_, params_);
    ASSERT_TRUE(d) << d.error().message;
    driver_ = std::move(*d);
  }
  std::string team() const { return ledger::TeamAccount(team_.public_key()); }
  ledger::Entry Proposal(const std::string& id, const std::string& param, int64_t value) {
    ledger::ProposalBody b;
    b.param = param;
    b.value = value;
    ledger::Entry e = ledger::MakeProposal(id, team(), MicroPlume(100'000'000), now_,
                                           gov::WithTerms(b, driver_->params(), now_));
    e.signatures.push_back(ledger::SignEntry(e, ledger_id(), team_));
    return e;
  }
  ledger::Entry Vote(const std::string& id, const std::string& p, const Identity& who) {
    ledger::Entry e = ledger::MakeVote(id, who.public_key(), now_,
                                       ledger::VoteBody{p, ledger::VoteOption::kYes});
    e.signatures.push_back(ledger::SignEntry(e, ledger_id(), who));
    return e;
  }
  ledger::Code Submit(const ledger::Entry& e, std::string* why = nullptr) {
    std::string w;
    auto r = driver_->Submit(e, w);
    EXPECT_TRUE(r) << r.error().message;
    if (why) *why = w;
    return r ? r->code : ledger::Code::kInvalid;
  }
  // One GovRequest through the real Cap'n Proto encoding; the reply's body.
  std::string AnswerKind(const std::function<void(wire::GovRequest::Builder)>& fill) {
    capnp::MallocMessageBuilder req, rep;
    auto body = req.initRoot<wire::Envelope>().initBody();
    fill(body.initGovRequest());
    auto out = rep.initRoot<wire::Envelope>().initBody();
    driver_->Answer(body.asReader(), out);
    if (out.isError()) return "error: " + std::string(out.getError().getMessage().cStr());
    return "ok";
  }

  gov::Params params_;
  Identity agent_ = Identity::Generate();
  uint64_t now_ = 1'700'000'000'000;
  std::unique_ptr<GovDriver> driver_;
};

TEST_F(GovDriverTest, AdoptedChangeIsExecutedAfterTheTimelockOnceAcrossARestart) {
  ASSERT_EQ(Submit(Proposal("fee-300", "fee_bps", 300)), ledger::Code::kOk);
  ASSERT_EQ(Submit(Vote("v1", "fee-300", agent_)), ledger::Code::kOk);
  now_ += 4999;
  EXPECT_FALSE(driver_->Tick());
  EXPECT_FALSE(driver_->book().Find("fee-300")->outcome);
  now_ += 1;  // the voting end
  EXPECT_FALSE(driver_->Tick());
  EXPECT_EQ(driver_->book().Find("fee-300")->outcome, ledger::OutcomeResult::kPassed);
  EXPECT_EQ(bridge_->ledger().Balance(team()), MicroPlume(1'000'000'000));  // refunded
  // Restart between adoption and execution.
  driver_.reset();
  Open();
  now_ += 1999;
  EXPECT_FALSE(driver_->Tick());
  now_ += 1;
  auto changed = driver_->Tick();
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->fee_bps, 300u);
  EXPECT_FALSE(driver_->Tick());  // reported once
  // Restart after the execution: derived from the ledger, never executed again.
  const uint64_t size = bridge_->ledger().size();
  driver_.reset();
  Open();
  EXPECT_EQ(driver_->params().Get(gov::Param::kFeeBps), 300);
  EXPECT_EQ(driver_->book().SetBy(gov::Param::kFeeBps), "fee-300");
  now_ += 60'000;
  EXPECT_FALSE(driver_->Tick());
  EXPECT_EQ(bridge_->ledger().size(), size);
}

// A grantee whose key the ledger has never seen: its account is opened, then credited once.
TEST_F(GovDriverTest, GrantToAKeyNeverSeenIsPaidOnce) {
  ledger::Entry fund = ledger::MakeMint("mint:treasury", std::string(ledger::kTreasury),
                                        MicroPlume(300'000'000));
  fund.signatures.push_back(ledger::SignEntry(fund, ledger_id(), op_));
  ASSERT_EQ(bridge_->AppendMint(fund)->code, ledger::Code::kOk);
  const std::string grantee = ledger::ProviderAccount(Identity::Generate().public_key());
  ASSERT_FALSE(bridge_->ledger().Balance(grantee));
  ledger::ProposalBody b;
  b.kind = ledger::ProposalKind::kGrant;
  b.grant_to = grantee;
  b.grant_amount = MicroPlume(250'000'000);
  b.purpose = "port a kernel";
  ledger::Entry e = ledger::MakeProposal("grant", team(), MicroPlume(100'000'000), now_,
                                         gov::WithTerms(b, driver_->params(), now_));
  e.signatures.push_back(ledger::SignEntry(e, ledger_id(), team_));
  ASSERT_EQ(Submit(e), ledger::Code::kOk);
  ASSERT_EQ(Submit(Vote("v1", "grant", agent_)), ledger::Code::kOk);
  now_ += 5000 + 2000;  // past the voting end and the timelock
  driver_->Tick();      // the outcome
  driver_->Tick();      // the execution
  EXPECT_TRUE(driver_->book().Find("grant")->executed);
  EXPECT_EQ(bridge_->ledger().Balance(grantee), MicroPlume(250'000'000));
  EXPECT_EQ(bridge_->ledger().Balance(std::string(ledger::kTreasury)), MicroPlume(50'000'000));
  const uint64_t size = bridge_->ledger().size();
  now_ += 60'000;
  driver_->Tick();
  EXPECT_EQ(bridge_->ledger().size(), size);
  EXPECT_EQ(bridge_->ledger().Balance(grantee), MicroPlume(250'000'000));
}

TEST_F(GovDriverTest, HostileRequestsAreRefusedAndNothingIsWritten) {
  const uint64_t size = bridge_->ledger().size();
  std::string why;
  EXPECT_EQ(Submit(Proposal("bad", "audit_rate_min_ppm", 0), &why), ledger::Code::kInvalid);
  EXPECT_NE(why.find("outside its bounds"), std::string::npos) << why;
  // Terms of the proposer's own choosing.
  ledger::Entry own = Proposal("own", "fee_bps", 300);
  auto body = *ledger::DecodeProposal(own.body);
  body.voting_end_ms = now_ + 1;
  own.body = ledger::EncodeBody(body);
  EXPECT_EQ(Submit(own), ledger::Code::kInvalid);
  EXPECT_EQ(bridge_->ledger().size(), size);
  EXPECT_NE(AnswerKind([](auto r) { r.setPropose(capnp::Data::Reader(nullptr, 0)); }).find("not a ledger entry"),
            std::string::npos);
  const std::vector<uint8_t> stake_bytes =
      ledger::Encode(ledger::MakeStake("x", agent_.public_key(), MicroPlume(1)));
  EXPECT_NE(AnswerKind([&](auto r) {
              r.setVote(capnp::Data::Reader(stake_bytes.data(), stake_bytes.size()));
            }).find("wrong entry type"),
            std::string::npos);
  EXPECT_NE(AnswerKind([](auto r) { r.setShow("nope"); }).find("no such proposal"), std::string::npos);
  EXPECT_EQ(AnswerKind([](auto r) { r.setParams(); }), "ok");
  EXPECT_EQ(bridge_->ledger().size(), size);

  ASSERT_EQ(Submit(Proposal("p1", "fee_bps", 300)), ledger::Code::kOk);
  // A key with no stake at the snapshot has no vote.
  EXPECT_EQ(Submit(Vote("nobody", "p1", team_), &why), ledger::Code::kInvalid);
  EXPECT_NE(why.find("no voting power"), std::string::npos) << why;
  // 16 votes per staker and proposal, then refused.
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(Submit(Vote("v" + std::to_string(i), "p1", agent_)), ledger::Code::kOk) << i;
  }
  EXPECT_EQ(Submit(Vote("v16", "p1", agent_), &why), ledger::Code::kInvalid);
  EXPECT_NE(why.find("at most 16"), std::string::npos) << why;
  // A retry of an applied vote is still answered as applied, once.
  EXPECT_EQ(Submit(Vote("v3", "p1", agent_)), ledger::Code::kIdExists);
  now_ += 5000;
  EXPECT_EQ(Submit(Vote("late", "p1", agent_), &why), ledger::Code::kInvalid);
  EXPECT_NE(why.find("ended"), std::string::npos) << why;
}

}  // namespace
}  // namespace plume::scheduler
