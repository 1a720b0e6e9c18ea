// Checkpoint entries (lineage.h): the body has one encoding and refuses anything else; only the
// ledger key may state a round's output; the id names the job and round, so one fact per round
// (the same fact again is kIdExists, another kIdConflict); nothing moves; a reopened ledger and
// Verify agree.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "plume/ledger/limits.h"
#include "plume/ledger/lineage.h"
#include "plume/ledger/query.h"
#include "plume/ledger/verify.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Signed;

CheckpointFact Fact(uint32_t round) {
  CheckpointFact f;
  f.round = round;
  f.params_in = Blake2b256("params-in");
  f.params_out = Blake2b256("params-out");
  f.deltas = {Blake2b256("delta-0"), Blake2b256("delta-1")};
  f.weights = {4096, 2048};
  f.outer_lr = 0.7;
  f.outer_momentum = 0.9;
  return f;
}

TEST(CheckpointBody, RoundTripsAndRefusesEveryOtherEncoding) {
  CheckpointFact f = Fact(3);
  f.final = true;
  const std::vector<uint8_t> body = EncodeCheckpoint(f);
  auto back = DecodeCheckpoint(body);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, f);

  std::vector<uint8_t> trailing = body;
  trailing.push_back(0);
  EXPECT_FALSE(DecodeCheckpoint(trailing).has_value());
  for (size_t cut = 0; cut < body.size(); ++cut) {
    EXPECT_FALSE(DecodeCheckpoint(std::span(body).first(cut)).has_value()) << cut;
  }
  std::vector<uint8_t> flag = body;
  flag[4] = 2;  // the final flag is 0 or 1
  EXPECT_FALSE(DecodeCheckpoint(flag).has_value());

  CheckpointFact zero = f;
  zero.weights[1] = 0;
  EXPECT_FALSE(DecodeCheckpoint(EncodeCheckpoint(zero)).has_value());
  CheckpointFact uneven = f;
  uneven.weights.pop_back();
  EXPECT_FALSE(DecodeCheckpoint(EncodeCheckpoint(uneven)).has_value());
  CheckpointFact none = f;
  none.deltas.clear();
  none.weights.clear();
  EXPECT_FALSE(DecodeCheckpoint(EncodeCheckpoint(none)).has_value());
  CheckpointFact nan = f;
  nan.outer_lr = std::numeric_limits<double>::quiet_NaN();
  EXPECT_FALSE(DecodeCheckpoint(EncodeCheckpoint(nan)).has_value());
  CheckpointFact many = f;
  many.deltas.assign(kCheckpointDeltasMax + 1, Blake2b256("d"));
  many.weights.assign(kCheckpointDeltasMax + 1, 1);
  EXPECT_FALSE(DecodeCheckpoint(EncodeCheckpoint(many)).has_value());
  many.deltas.pop_back();
  many.weights.pop_back();
  EXPECT_TRUE(DecodeCheckpoint(EncodeCheckpoint(many)).has_value());
}

TEST(CheckpointEntry, OnlyTheLedgerKeyStatesARoundOnceAndVerifyAgrees) {
  test::Cast cast;
  test::TempDir dir;
  auto ledger = Ledger::Open(dir.path(), cast.ledger, cast.operator_id.public_key(),
                             cast.options());
  ASSERT_TRUE(ledger.has_value()) << ledger.error().message;
  test::AppendCodes(**ledger, test::Genesis(cast, MicroPlume(1000)));
  const auto balances = (*ledger)->StateCopy().balances();

  const Entry good = Signed(cast.id, MakeCheckpoint("job-1", Fact(0)), cast.ledger);
  Entry wrong_id = MakeCheckpoint("job-1", Fact(1));
  wrong_id.id = "checkpoint:job-1/r7";
  Entry with_money = MakeCheckpoint("job-2", Fact(0));
  with_money.to = cast.team(0);
  Entry no_job = MakeCheckpoint("", Fact(0));
  const std::vector<Code> codes = test::AppendCodes(
      **ledger,
      {good,
       Signed(cast.id, MakeCheckpoint("job-1", Fact(1)), cast.teams[0]),  // a team's word
       Signed(cast.id, wrong_id, cast.ledger), Signed(cast.id, with_money, cast.ledger),
       Signed(cast.id, no_job, cast.ledger),
       good,                                                               // the same again
       Signed(cast.id, MakeCheckpoint("job-1", [] {                         // another fact
                         CheckpointFact f = Fact(0);
                         f.params_out = Blake2b256("other");
                         return f;
                       }()),
              cast.ledger)});
  EXPECT_EQ(codes, (std::vector<Code>{Code::kOk, Code::kBadSignature, Code::kInvalid,
                                      Code::kInvalid, Code::kInvalid, Code::kIdExists,
                                      Code::kIdConflict}));
  EXPECT_EQ((*ledger)->StateCopy().balances(), balances);  // nothing moved

  auto index = (*ledger)->IndexOf(CheckpointEntryId("job-1", 0));
  ASSERT_TRUE(index.has_value());
  auto bundle = (*ledger)->ProveInclusion(*index);
  ASSERT_TRUE(bundle.has_value());
  EXPECT_TRUE(CheckInclusion(*bundle, cast.ledger.public_key()));
  EXPECT_NE(DescribeEntry(bundle->logged).find("params_out=" + ToHex(Fact(0).params_out)),
            std::string::npos)
      << DescribeEntry(bundle->logged);
  ledger->reset();
  auto report = Verify(dir.path());
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok) << report->problem;
}

}  // namespace
}  // namespace plume::ledger
