// Verdict entries (verdict.h): one encoding per body; only the ledger key states a verdict, once
// per task; nothing moves; and the majority rule finds a verdict that contradicts its runs'
// receipts, or a receipt that is not the run the verdict names.
#include <gtest/gtest.h>

#include "plume/ledger/query.h"
#include "plume/ledger/verdict.h"
#include "plume/ledger/verify.h"
#include "plume/protocol/codec.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Signed;
using Outputs = std::vector<std::optional<Hash256>>;

const Hash256 kA = Blake2b256("output A");
const Hash256 kB = Blake2b256("output B");
const Hash256 kC = Blake2b256("output C");

VerdictFact Fact(VerdictOutcome outcome, std::vector<Hash256> outputs) {
  VerdictFact f;
  f.task = "job-1/r0/w0";
  f.policy = "audit/1";
  f.outcome = outcome;
  for (size_t i = 0; i < outputs.size(); ++i) f.runs.push_back({std::to_string(10 + i), outputs[i]});
  f.recomputed_ppm = 1'000'000;
  return f;
}

Outputs Receipts(const VerdictFact& f) {
  Outputs out;
  for (const VerdictRun& r : f.runs) out.push_back(r.output);
  return out;
}

TEST(VerdictBody, RoundTripsAndRefusesEveryOtherEncoding) {
  VerdictFact f = Fact(VerdictOutcome::kOriginalFaulty, {kA, kB, kB});
  f.policy = "dispute/1";
  f.dispute_link = 3;
  f.recomputed_ppm = 125'000;
  const std::vector<uint8_t> body = EncodeVerdict(f);
  auto back = DecodeVerdict(body);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, f);
  std::vector<uint8_t> trailing = body;
  trailing.push_back(0);
  EXPECT_FALSE(DecodeVerdict(trailing).has_value());
  for (size_t cut = 0; cut < body.size(); ++cut) {
    EXPECT_FALSE(DecodeVerdict(std::span(body).first(cut)).has_value()) << cut;
  }
  for (uint8_t bad : {0, 5, 255}) {
    VerdictFact o = f;
    o.outcome = static_cast<VerdictOutcome>(bad);
    EXPECT_FALSE(DecodeVerdict(EncodeVerdict(o)).has_value()) << int(bad);
  }
  VerdictFact one = f;
  one.runs.resize(1);
  EXPECT_FALSE(DecodeVerdict(EncodeVerdict(one)).has_value());
  VerdictFact four = f;
  four.runs.push_back(f.runs[0]);
  EXPECT_FALSE(DecodeVerdict(EncodeVerdict(four)).has_value());
  VerdictFact link = f;
  link.dispute_link = -2;
  EXPECT_FALSE(DecodeVerdict(EncodeVerdict(link)).has_value());
  VerdictFact share = f;
  share.recomputed_ppm = 1'000'001;
  EXPECT_FALSE(DecodeVerdict(EncodeVerdict(share)).has_value());
  VerdictFact no_task = f;
  no_task.task.clear();
  EXPECT_FALSE(DecodeVerdict(EncodeVerdict(no_task)).has_value());
}

// The evidence hash is appended after the older fields: a body an older scheduler wrote (no
// evidence) still decodes, to the same fact and the same bytes, and one with evidence refuses
// every cut but the one that drops the whole field, and any marker other than 1.
TEST(VerdictBody, EvidenceIsAppendedAndOlderBodiesStillDecode) {
  VerdictFact old = Fact(VerdictOutcome::kOriginalFaulty, {kA, kB, kB});
  old.policy = "dispute/1";
  old.dispute_link = 3;
  old.recomputed_ppm = 125'000;
  // The older encoding, written out field by field as it was before evidence existed.
  std::vector<uint8_t> legacy;
  protocol::codec::PutString(legacy, old.task);
  protocol::codec::PutString(legacy, old.policy);
  protocol::codec::PutU8(legacy, 2);
  protocol::codec::PutU32(legacy, 3);
  for (const VerdictRun& r : old.runs) {
    protocol::codec::PutString(legacy, r.task);
    protocol::codec::PutRaw(legacy, r.output);
  }
  protocol::codec::PutU32(legacy, 3);
  protocol::codec::PutU32(legacy, 125'000);
  auto back = DecodeVerdict(legacy);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, old);
  EXPECT_FALSE(back->evidence.has_value());
  EXPECT_EQ(EncodeVerdict(old), legacy);  // an older verdict's id and signature still hold

  VerdictFact with = old;
  with.evidence = kC;
  const std::vector<uint8_t> body = EncodeVerdict(with);
  ASSERT_EQ(body.size(), legacy.size() + 33);
  auto decoded = DecodeVerdict(body);
  ASSERT_TRUE(decoded.has_value()) << decoded.error().message;
  EXPECT_EQ(*decoded, with);
  for (size_t cut = legacy.size() + 1; cut < body.size(); ++cut) {
    EXPECT_FALSE(DecodeVerdict(std::span(body).first(cut)).has_value()) << cut;
  }
  std::vector<uint8_t> marker = body;
  marker[legacy.size()] = 2;
  EXPECT_FALSE(DecodeVerdict(marker).has_value());
  std::vector<uint8_t> trailing = body;
  trailing.push_back(0);
  EXPECT_FALSE(DecodeVerdict(trailing).has_value());
  Entry e = MakeVerdict("job-1", with);
  EXPECT_NE(DescribeVerdict(e).find("evidence=" + ToHex(kC).substr(0, 16)), std::string::npos);
}

TEST(VerdictRule, EveryOutcomeFollowsFromTheHashesAndNothingElse) {
  struct Case {
    std::vector<Hash256> outputs;
    VerdictOutcome right;
  };
  const std::vector<Case> cases = {
      {{kA, kA}, VerdictOutcome::kMatched},
      {{kA, kB}, VerdictOutcome::kUndecided},  // no referee could be found
      {{kA, kB, kB}, VerdictOutcome::kOriginalFaulty},
      {{kA, kB, kA}, VerdictOutcome::kAuditorFaulty},
      {{kA, kB, kC}, VerdictOutcome::kUndecided},
  };
  for (const Case& c : cases) {
    for (int o = 1; o <= 4; ++o) {
      const VerdictFact f = Fact(static_cast<VerdictOutcome>(o), c.outputs);
      const std::string problem = VerdictProblem(f, Receipts(f));
      if (static_cast<VerdictOutcome>(o) == c.right) {
        EXPECT_EQ(problem, "") << o;
      } else {
        EXPECT_NE(problem.find("but the runs' output hashes give " +
                               std::string(VerdictOutcomeName(c.right))),
                  std::string::npos)
            << problem;
      }
    }
  }
  // A verdict that names another output than the run's receipt, and one whose receipt is not in
  // the ledger (the others are still compared).
  const VerdictFact f = Fact(VerdictOutcome::kMatched, {kA, kA});
  EXPECT_NE(VerdictProblem(f, Outputs{kA, kB}).find("audit run's output"), std::string::npos);
  EXPECT_EQ(VerdictProblem(f, Outputs{kA, std::nullopt}), "");
  // A dispute on chains: the ledger cannot judge the links, but the runs must differ.
  VerdictFact d = Fact(VerdictOutcome::kOriginalFaulty, {kA, kB, kC});
  d.policy = "dispute/1";
  EXPECT_EQ(VerdictProblem(d, Receipts(d)), "");
  d.runs[1].output = kA;
  EXPECT_NE(VerdictProblem(d, Receipts(d)), "");
}

TEST(VerdictEntry, OnlyTheLedgerKeyStatesAVerdictOnceNothingMovesAndVerifyAgrees) {
  test::Cast cast;
  test::TempDir dir;
  auto ledger = Ledger::Open(dir.path(), cast.ledger, cast.operator_id.public_key(),
                             cast.options());
  ASSERT_TRUE(ledger.has_value()) << ledger.error().message;
  test::AppendCodes(**ledger, test::Genesis(cast, MicroPlume(1000)));
  const auto balances = (*ledger)->StateCopy().balances();

  const VerdictFact fact = Fact(VerdictOutcome::kOriginalFaulty, {kA, kB, kB});
  const Entry good = Signed(cast.id, MakeVerdict("job-1", fact), cast.ledger);
  Entry wrong_id = MakeVerdict("job-1", fact);
  wrong_id.id = "verdict:job-1/r0/w9";
  Entry with_money = MakeVerdict("job-1", fact);
  with_money.amount = MicroPlume(5);
  with_money.id = "verdict:x";
  Entry no_job = MakeVerdict("", fact);
  VerdictFact other = fact;
  other.outcome = VerdictOutcome::kUndecided;
  const std::vector<Code> codes = test::AppendCodes(
      **ledger, {good, Signed(cast.id, MakeVerdict("job-2", fact), cast.teams[0]),
                 Signed(cast.id, wrong_id, cast.ledger), Signed(cast.id, with_money, cast.ledger),
                 Signed(cast.id, no_job, cast.ledger), good,
                 Signed(cast.id, MakeVerdict("job-1", other), cast.ledger)});
  EXPECT_EQ(codes, (std::vector<Code>{Code::kOk, Code::kBadSignature, Code::kInvalid,
                                      Code::kInvalid, Code::kInvalid, Code::kIdExists,
                                      Code::kIdConflict}));
  EXPECT_EQ((*ledger)->StateCopy().balances(), balances);  // nothing moved
  auto index = (*ledger)->IndexOf(VerdictEntryId(fact.task));
  ASSERT_TRUE(index.has_value());
  auto bundle = (*ledger)->ProveInclusion(*index);
  ASSERT_TRUE(bundle.has_value());
  EXPECT_NE(DescribeEntry(bundle->logged).find("verdict=original_faulty"), std::string::npos)
      << DescribeEntry(bundle->logged);
  ledger->reset();
  auto report = Verify(dir.path());
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok) << report->problem;
}

// A verdict well signed by the ledger key that its runs' receipts contradict: the ledger takes
// it (it does not judge), but Verify, like any reader, recomputes it and fails it.
TEST(VerdictEntry, VerifyFailsAVerdictItsRunsReceiptsContradict) {
  test::Cast cast;
  test::TempDir dir;
  auto ledger = Ledger::Open(dir.path(), cast.ledger, cast.operator_id.public_key(),
                             cast.options());
  ASSERT_TRUE(ledger.has_value()) << ledger.error().message;
  test::AppendCodes(**ledger, test::Genesis(cast, MicroPlume(1'000'000)));
  // Two runs that gave the same output (the helper signs every receipt over one output).
  const TaskReceipt original = test::MakeSignedReceipt(cast.id, "job-1", "10", cast.agents[0],
                                                       cast.ledger, 1'000'000'000, 1000, 0);
  const TaskReceipt audit = test::MakeSignedReceipt(cast.id, "job-1", "11", cast.agents[1],
                                                    cast.ledger, 1'000'000'000, 1000, 0);
  ASSERT_EQ(original.output_hash, audit.output_hash);
  VerdictFact truth = Fact(VerdictOutcome::kMatched, {original.output_hash, audit.output_hash});
  truth.task = "job-1/r0/w1";
  truth.runs[0].task = "10";
  truth.runs[1].task = "11";
  VerdictFact lie = truth;  // "no referee could decide": the hashes say they matched
  lie.task = "job-1/r0/w0";
  lie.outcome = VerdictOutcome::kUndecided;
  const std::vector<Code> codes = test::AppendCodes(
      **ledger, {Signed(cast.id, MakeTaskReceipt("receipt:10", original), cast.ledger),
                 Signed(cast.id, MakeTaskReceipt("receipt:11", audit), cast.ledger),
                 Signed(cast.id, MakeVerdict("job-1", truth), cast.ledger)});
  EXPECT_EQ(codes, (std::vector<Code>{Code::kOk, Code::kOk, Code::kOk}));
  {
    auto report = Verify(dir.path());
    ASSERT_TRUE(report.has_value());
    EXPECT_TRUE(report->ok) << report->problem;
  }
  EXPECT_EQ(test::AppendCodes(**ledger, {Signed(cast.id, MakeVerdict("job-1", lie), cast.ledger)}),
            std::vector<Code>{Code::kOk});
  ledger->reset();
  auto report = Verify(dir.path());
  ASSERT_TRUE(report.has_value());
  EXPECT_FALSE(report->ok);
  EXPECT_NE(report->problem.find("verdict 'verdict:job-1/r0/w0' contradicts"), std::string::npos)
      << report->problem;
}

}  // namespace
}  // namespace plume::ledger
