// Canonical encoding and signatures of entries and receipts: every entry round-trips, the
// decoder refuses anything but the one canonical encoding, and signatures bind every field.
#include "plume/ledger/entry.h"

#include <gtest/gtest.h>

#include "plume/ledger/limits.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Cast;

// A slash of agent 0 for receipt r: 6 micro-PLUME in one leg of each kind.
Entry SlashOf(const Cast& c, std::string id, const TaskReceipt& r) {
  std::vector<Leg> legs = {{LegKind::kClawback, c.team(0), MicroPlume(2)},
                           {LegKind::kCompensation, c.team(0), MicroPlume(1)},
                           {LegKind::kFinder, c.provider(1), MicroPlume(2)},
                           {LegKind::kTreasury, "treasury", MicroPlume(1)}};
  return MakeSlash(std::move(id), r, MicroPlume(6), std::move(legs),
                   "audit a1 output differs: caf\xc3\xa9 \xe2\x82\xac 1");
}

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
      test::Signed(c.id, MakeUnstake("h", c.agents[0].public_key(), MicroPlume(1), 1'000),
                   c.agents[0], c.ledger),
      test::Signed(c.id, SlashOf(c, "i", r), c.operator_id),
      test::Signed(c.id, MakeTaskReceipt("j", r), c.ledger),
      test::Signed(c.id, MakeWithdraw("k", c.agents[0].public_key(), MicroPlume(1), 2'000),
                   c.ledger),
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

TEST(Entry, SignatureCoversTheVersionThreeFields) {
  Cast c;
  const TaskReceipt r = test::MakeSignedReceipt(c.id, "job-1", "task-1", c.agents[0], c.ledger,
                                                1'000'000'000'000'000ULL, 1000, 0);
  const Entry slash = test::Signed(c.id, SlashOf(c, "s", r), c.ledger);
  ASSERT_EQ(Authorize(slash, c.keys()), Code::kOk);
  // Each change keeps the entry well formed (legs still sum to the amount), so only the
  // signature can refuse it.
  Entry memo = slash;
  memo.memo[0] = 'A';
  EXPECT_EQ(Authorize(memo, c.keys()), Code::kBadSignature);
  Entry kind = slash;
  kind.legs[0].kind = LegKind::kCompensation;  // clawback -> compensation, same team
  EXPECT_EQ(Authorize(kind, c.keys()), Code::kBadSignature);
  Entry account = slash;
  account.legs[0].account = c.team(1);
  EXPECT_EQ(Authorize(account, c.keys()), Code::kBadSignature);
  Entry amounts = slash;
  amounts.legs[3].amount = MicroPlume(2);
  amounts.amount = MicroPlume(7);
  EXPECT_EQ(Authorize(amounts, c.keys()), Code::kBadSignature);
  Entry order = slash;
  std::swap(order.legs[0], order.legs[1]);
  EXPECT_EQ(Authorize(order, c.keys()), Code::kBadSignature);
  const PublicKey agent = c.agents[0].public_key();
  const Entry unstake =
      test::Signed(c.id, MakeUnstake("u", agent, MicroPlume(5), 1'000), c.agents[0], c.ledger);
  ASSERT_EQ(Authorize(unstake, c.keys()), Code::kOk);
  Entry sooner = unstake;
  sooner.at_ms = 1;  // the agent may not choose its own release time
  EXPECT_EQ(Authorize(sooner, c.keys()), Code::kBadSignature);
  const Entry withdraw = test::Signed(c.id, MakeWithdraw("w", agent, MicroPlume(5), 9), c.ledger);
  ASSERT_EQ(Authorize(withdraw, c.keys()), Code::kOk);
  Entry later = withdraw;
  later.at_ms = 10;
  EXPECT_EQ(Authorize(later, c.keys()), Code::kBadSignature);
}

TEST(Entry, FieldsATypeDoesNotUseMustBeEmpty) {
  Cast c;
  const auto transfer = [&](auto&& change) {
    Entry e = MakeTransfer("t", c.team(0), c.team(1), MicroPlume(5));
    change(e);
    return Authorize(test::Signed(c.id, e, c.teams[0]), c.keys());
  };
  EXPECT_EQ(transfer([](Entry&) {}), Code::kOk);
  EXPECT_EQ(transfer([](Entry& e) { e.at_ms = 1; }), Code::kInvalid);
  EXPECT_EQ(transfer([](Entry& e) { e.memo = "x"; }), Code::kInvalid);
  EXPECT_EQ(transfer([&](Entry& e) {
              e.legs = {{LegKind::kTreasury, "treasury", MicroPlume(5)}};
            }),
            Code::kInvalid);
  EXPECT_EQ(transfer([](Entry& e) { e.body = {1}; }), Code::kInvalid);
}

// The version 4 body: signed like every other field, bounded by the decoder.
TEST(Entry, TheBodyIsSignedAndBounded) {
  Cast c;
  Entry e = MakeTransfer("t", c.team(0), c.team(1), MicroPlume(5));
  e.body = {1, 2, 3};
  const Entry signed_e = test::Signed(c.id, e, c.teams[0]);
  auto back = Decode(Encode(signed_e));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->body, e.body);
  Entry changed = signed_e;
  changed.body[0] = 9;
  EXPECT_NE(SigningBytes(changed, c.id), SigningBytes(signed_e, c.id));
  Entry longest = signed_e;
  longest.body.assign(kBodyBytesMax, 7);
  EXPECT_TRUE(Decode(Encode(longest)).has_value());
  longest.body.push_back(7);
  EXPECT_FALSE(Decode(Encode(longest)).has_value());
}

// The decoder's bounds on the new fields; each case starts from a good encoding, so the one
// change is what refuses it.
TEST(Entry, DecodeRefusesOverLimitLegsKindsAndMemos) {
  Cast c;
  const TaskReceipt r = test::MakeSignedReceipt(c.id, "job-1", "task-1", c.agents[0], c.ledger,
                                                1'000'000'000'000'000ULL, 1000, 0);
  const auto decodes = [](const Entry& e) { return Decode(Encode(e)).has_value(); };
  Entry slash = test::Signed(c.id, SlashOf(c, "s", r), c.ledger);
  ASSERT_TRUE(decodes(slash));
  Entry legs = slash;
  legs.legs.resize(kSlashLegsMax, Leg{LegKind::kTreasury, "treasury", MicroPlume(1)});
  EXPECT_TRUE(decodes(legs));
  legs.legs.push_back(legs.legs.back());
  EXPECT_FALSE(decodes(legs));
  Entry memo = slash;
  memo.memo.assign(kMemoBytesMax, 'm');
  EXPECT_TRUE(decodes(memo));
  memo.memo.push_back('m');
  EXPECT_FALSE(decodes(memo));
  for (const char* bad : {"\x80", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xff"}) {
    Entry broken = slash;
    broken.memo = std::string("ok ") + bad;
    EXPECT_FALSE(decodes(broken)) << broken.memo;
    EXPECT_EQ(Authorize(broken, c.keys()), Code::kInvalid) << broken.memo;
  }
  // A leg kind past kRoyalty, written over the first leg's kind byte.
  std::vector<uint8_t> bytes = Encode(slash);
  const std::vector<uint8_t> body = BodyBytes(slash);  // bytes without the signatures
  size_t legs_bytes = 4 + 4 + slash.memo.size() + 4 /* empty body */;
  for (const Leg& leg : slash.legs) legs_bytes += 1 + 4 + leg.account.size() + 8;
  const size_t first_kind = body.size() - legs_bytes + 4;
  ASSERT_EQ(bytes[first_kind], static_cast<uint8_t>(LegKind::kClawback));
  bytes[first_kind] = 3;
  EXPECT_TRUE(Decode(bytes).has_value());
  bytes[first_kind] = 4;  // decodes; Authorize refuses a royalty leg on a slash
  EXPECT_TRUE(Decode(bytes).has_value());
  bytes[first_kind] = 5;
  EXPECT_FALSE(Decode(bytes).has_value());
  // Types past kEntryTypeLast do not decode.
  std::vector<uint8_t> typed = Encode(slash);
  typed[0] = static_cast<uint8_t>(kEntryTypeLast) + 1;
  EXPECT_FALSE(Decode(typed).has_value());
  typed[0] = 0;
  EXPECT_FALSE(Decode(typed).has_value());
}

// limits.h computes the longest entry by hand to check at compile time that it fits a record;
// this pins the computation to the real encoder, so neither can drift from the other.
TEST(Entry, TheLongestEntryIsWhatLimitsSays) {
  Cast c;
  TaskReceipt r =
      test::MakeSignedReceipt(c.id, std::string(kJobIdBytesMax, 'j'),
                              std::string(kTaskIdBytesMax, 't'), c.agents[0], c.ledger, 1, 1, 0);
  r.input_hashes.resize(kReceiptInputsMax);
  r.device.assign(kDeviceBytesMax, 'd');
  r.kernel_build.assign(kKernelBuildBytesMax, 'k');
  Entry e = MakeSlash(std::string(kEntryIdBytesMax, 'i'), r, MicroPlume(8), {},
                      std::string(kMemoBytesMax, 'm'));
  e.from.assign(kAccountBytesMax, 'f');
  e.to.assign(kAccountBytesMax, 't');
  e.legs.assign(kSlashLegsMax,
                Leg{LegKind::kTreasury, std::string(kAccountBytesMax, 'a'), MicroPlume(1)});
  e.body.assign(kBodyBytesMax, 0xbb);
  e.signatures.assign(kEntrySignaturesMax, Endorsement{});
  const std::vector<uint8_t> bytes = Encode(e);
  EXPECT_EQ(bytes.size(), kEntryBytesMax);
  auto back = Decode(bytes);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, e);
}

TEST(Entry, Utf8Validation) {
  for (const char* good : {"", "plain", "caf\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
                           "\xf4\x8f\xbf\xbf", "\xed\x9f\xbf"}) {
    EXPECT_TRUE(IsValidUtf8(good)) << good;
  }
  for (const char* bad :
       {"\x80", "\xbf", "\xc3", "\xe2\x82", "\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf",
        "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xf8\x88\x80\x80\x80", "\xfe", "\xff", "a\xc3(b"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << bad;
  }
}

TEST(Entry, AccountNames) {
  Cast c;
  EXPECT_EQ(AccountNameProblem(c.team(0)), "");
  EXPECT_EQ(AccountNameProblem(UnbondAccount(c.agents[0].public_key())), "");
  EXPECT_EQ(AccountKey(UnbondAccount(c.agents[0].public_key())), c.agents[0].public_key());
  EXPECT_NE(AccountNameProblem("unbond:1234"), "");
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
