// Proposal validation: a good proposal passes, and each rule refuses a proposal that breaks it
// (out-of-bounds value, unknown parameter, small deposit, terms not the ones in force, a
// timelock shorter than unbonding, a grant beyond the treasury, too many open, a far clock).
#include "plume/gov/proposal.h"

#include <gtest/gtest.h>

namespace plume::gov {
namespace {
using ledger::MicroPlume;

constexpr uint64_t kNow = 1'000'000;
const std::string kProposer = "team:" + std::string(64, 'a');

ProposalContext Context() {
  ProposalContext c;
  c.unbonding_ms = 1000;
  c.now_ms = kNow;
  c.treasury = MicroPlume(500);
  return c;
}

ledger::Entry Param(std::string name, int64_t value, const ProposalContext& c) {
  ledger::ProposalBody b;
  b.kind = ledger::ProposalKind::kParamChange;
  b.param = std::move(name);
  b.value = value;
  return ledger::MakeProposal("p1", kProposer, MicroPlume(c.params.Get(Param::kDepositMin)),
                              kNow, WithTerms(b, c.params, kNow));
}

ledger::Entry Grant(int64_t amount, const ProposalContext& c) {
  ledger::ProposalBody b;
  b.kind = ledger::ProposalKind::kGrant;
  b.grant_to = "provider:" + std::string(64, 'b');
  b.grant_amount = MicroPlume(amount);
  b.purpose = "a kernel port";
  return ledger::MakeProposal("g1", kProposer, MicroPlume(c.params.Get(Param::kDepositMin)),
                              kNow, WithTerms(b, c.params, kNow));
}

TEST(Proposal, GoodOnesPass) {
  const ProposalContext c = Context();
  EXPECT_EQ(ProposalProblem(Param("fee_bps", 300, c), c), "");
  EXPECT_EQ(ProposalProblem(Grant(500, c), c), "");
}

TEST(Proposal, OutOfBoundsAndUnknownParametersAreRefused) {
  const ProposalContext c = Context();
  EXPECT_NE(ProposalProblem(Param("audit_rate_min_ppm", 0, c), c).find("outside its bounds"),
            std::string::npos);
  EXPECT_NE(ProposalProblem(Param("threshold_ppm", 100'000, c), c), "");
  EXPECT_NE(ProposalProblem(Param("fee_bps", 9000, c), c), "");
  EXPECT_NE(ProposalProblem(Param("no_such", 1, c), c).find("unknown parameter"),
            std::string::npos);
}

TEST(Proposal, DepositTermsAndTimelockAreChecked) {
  ProposalContext c = Context();
  ledger::Entry e = Param("fee_bps", 300, c);
  e.amount = MicroPlume(c.params.Get(Param::kDepositMin) - 1);
  EXPECT_NE(ProposalProblem(e, c).find("under the minimum"), std::string::npos);

  // A proposer that picks its own voting end or quorum is refused.
  e = Param("fee_bps", 300, c);
  auto body = *ledger::DecodeProposal(e.body);
  body.quorum_ppm = 100'000;
  e.body = ledger::EncodeBody(body);
  EXPECT_NE(ProposalProblem(e, c).find("not the ones in force"), std::string::npos);

  c.unbonding_ms = c.params.Get(Param::kTimelockMs) + 1;
  EXPECT_NE(ProposalProblem(Param("fee_bps", 300, c), c).find("unbonding"), std::string::npos);
  c = Context();
  EXPECT_NE(ProposalProblem(Param("timelock_ms", 999, c), c), "");  // under unbonding (1000)
}

TEST(Proposal, GrantBeyondTreasuryOpenBoundAndClockAreRefused) {
  ProposalContext c = Context();
  EXPECT_NE(ProposalProblem(Grant(501, c), c).find("treasury"), std::string::npos);
  c.open_proposals = kOpenProposalsMax;
  EXPECT_NE(ProposalProblem(Param("fee_bps", 300, c), c).find("open proposals"),
            std::string::npos);
  c = Context();
  c.now_ms = kNow + kProposalClockSkewMs + 1;
  EXPECT_NE(ProposalProblem(Param("fee_bps", 300, c), c).find("clock"), std::string::npos);
}

TEST(Proposal, BodyCodecRefusesTrailingBytesAndBadEnums) {
  const ProposalContext c = Context();
  ledger::Entry e = Param("fee_bps", 300, c);
  EXPECT_TRUE(ledger::DecodeProposal(e.body).has_value());
  std::vector<uint8_t> bytes = e.body;
  bytes.push_back(0);
  EXPECT_FALSE(ledger::DecodeProposal(bytes).has_value());
  bytes = e.body;
  bytes[0] = 9;  // kind
  EXPECT_FALSE(ledger::DecodeProposal(bytes).has_value());
  for (size_t cut = 0; cut < e.body.size(); ++cut) {
    EXPECT_FALSE(ledger::DecodeProposal(std::span(e.body).first(cut)).has_value()) << cut;
  }
  EXPECT_FALSE(ledger::DecodeVote(ledger::EncodeBody(ledger::VoteBody{"BAD ID"})).has_value());
}

}  // namespace
}  // namespace plume::gov
