// Canonical encoding and signatures of entries and receipts: every entry round-trips, the
// decoder refuses anything but the one canonical encoding, and signatures bind every field.
#include "plume/ledger/entry.h"

#include <gtest/gtest.h>

#include "plume/ledger/limits.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Cast;

std::vector<Entry> OneOfEach(const Cast& c) {
  const TaskReceipt r = test::MakeSignedReceipt(c.id, "job-1", "task-1", c.agents[0], c.ledger,
                                                2'000'000'000'000'000ULL, 1000, 500);
  return {
      test::Signed(c.id, MakeOpenAccount("a", c.team(0)), c.teams[0]),
      test::Signed(c.id, MakeMint("b", c.team(0), MicroPlume(10)), c.operator_id),
      test::Signed(c.id, MakeTransfer("c", c.team(0), c.team(1), MicroPlume(3)), c.teams[0]),
      test::Signed(c.id, MakeEscrowHold("d", c.team(0), "job-1", MicroPlume(4)), c.teams[0]),
      test::Signed(c.id, MakeSettle("e", r), c.ledger),
      test::Signed(c.id, MakeRelease("f", "job-1", c.team(0)), c.ledger),
      test::Signed(c.id, MakeStake("g", c.agents[0].public_key(), MicroPlume(1)), c.agents[0]),
      test::Signed(c.id, MakeUnstake("h", c.agents[0].public_key(), MicroPlume(1)), c.agents[0],
                   c.ledger),
      test::Signed(c.id, MakeSlash("i", c.agents[0].public_key(), MicroPlume(1)), c.operator_id),
      test::Signed(c.id, MakeTaskReceipt("j", r), c.ledger),
  };
}

TEST(Entry, EveryTypeRoundTripsAndIsAuthorised) {
  Cast c;
  for (const Entry& e : OneOfEach(c)) {
    const std::vector<uint8_t> bytes = Encode(e);
    auto back = Decode(bytes);
    ASSERT_TRUE(back.has_value()) << EntryTypeName(e.type) << ": " << back.error().message;
    EXPECT_EQ(*back, e);
    EXPECT_EQ(Authorize(e, c.keys()), Code::kOk) << EntryTypeName(e.type);
  }
}

TEST(Entry, DecodeRefusesTruncatedAndTrailingBytes) {
  Cast c;
  for (const Entry& e : OneOfEach(c)) {
    std::vector<uint8_t> bytes = Encode(e);
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
      EXPECT_FALSE(Decode(std::span(bytes).first(cut)).has_value()) << cut;
    }
    bytes.push_back(0);
    EXPECT_FALSE(Decode(bytes).has_value());
  }
}

TEST(Entry, SignatureCoversEveryField) {
  Cast c;
  const Entry e =
      test::Signed(c.id, MakeTransfer("t", c.team(0), c.team(1), MicroPlume(5)), c.teams[0]);
  ASSERT_EQ(Authorize(e, c.keys()), Code::kOk);
  Entry more = e;
  more.amount = MicroPlume(6);
  EXPECT_EQ(Authorize(more, c.keys()), Code::kBadSignature);
  Entry other_id = e;
  other_id.id = "u";
  EXPECT_EQ(Authorize(other_id, c.keys()), Code::kBadSignature);
  Entry redirected = e;
  redirected.to = "treasury";
  EXPECT_EQ(Authorize(redirected, c.keys()), Code::kBadSignature);
}

TEST(Entry, AccountNames) {
  Cast c;
  EXPECT_EQ(AccountNameProblem(c.team(0)), "");
  EXPECT_EQ(AccountNameProblem("treasury"), "");
  EXPECT_EQ(AccountNameProblem("escrow:job-7"), "");
  EXPECT_NE(AccountNameProblem("team:1234"), "");
  EXPECT_NE(AccountNameProblem("bank"), "");
  EXPECT_NE(AccountNameProblem("escrow:"), "");
  std::string upper = c.team(0);
  for (char& ch : upper) ch = static_cast<char>(std::toupper(ch));
  EXPECT_NE(AccountNameProblem(upper), "");  // one spelling per account
  EXPECT_EQ(AccountKey(c.provider(1)), c.agents[1].public_key());
}

TEST(Receipt, SignaturesBindTheWorkAndTheTerms) {
  Cast c;
  TaskReceipt r = test::MakeSignedReceipt(c.id, "job", "t0", c.agents[0], c.ledger, 1000, 7, 100);
  EXPECT_TRUE(VerifyAgentSignature(r, c.id));
  EXPECT_TRUE(VerifyCountersignature(r, c.id, c.ledger.public_key()));
  EXPECT_FALSE(VerifyCountersignature(r, c.id, c.operator_id.public_key()));
  TaskReceipt more_flops = r;
  more_flops.flops += 1;
  EXPECT_FALSE(VerifyAgentSignature(more_flops, c.id));
  TaskReceipt better_price = r;
  better_price.price_micro_plume_per_pflop += 1;
  EXPECT_TRUE(VerifyAgentSignature(better_price, c.id));  // the agent does not sign the terms
  EXPECT_FALSE(VerifyCountersignature(better_price, c.id, c.ledger.public_key()));
  TaskReceipt other_output = r;
  other_output.output_hash[0] ^= 1;
  EXPECT_FALSE(VerifyAgentSignature(other_output, c.id));
  TaskReceipt too_many = r;
  too_many.input_hashes.resize(kReceiptInputsMax + 1);
  EXPECT_NE(ReceiptShapeProblem(too_many), "");
}

}  // namespace
}  // namespace plume::ledger
