// Data-owner entries: publish, revoke and access records, and settles that pay royalties. Each
// refusal (wrong signer, forged grant, unknown dataset, wrong royalty, royalty not read, escrow
// too small) changes nothing; every step checks the invariants; a royalty settle survives a
// reopen and `Verify` recomputes it from the log alone.
#include <gtest/gtest.h>

#include <map>

#include "plume/ledger/data_entries.h"
#include "plume/ledger/state.h"
#include "plume/ledger/verify.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Cast;
using test::Signed;

constexpr uint64_t kPflop = 1'000'000'000'000'000ULL;

class DataTest : public ::testing::Test {
 protected:
  // Team 0 holds 1000 for job-1; team 1 owns the datasets (and is a team too).
  void SetUp() override {
    for (const Entry& e : test::Genesis(cast_, MicroPlume(1000))) ASSERT_EQ(Run(e), Code::kOk);
    ASSERT_EQ(Run(Signed(cast_.id, MakeEscrowHold("h", cast_.team(0), "job-1", MicroPlume(1000)),
                         cast_.teams[0])),
              Code::kOk);
    terms_.owner = owner().public_key();
    terms_.name = "corpus";
    terms_.blob_hash = Blake2b256("input-a");  // what test receipts name as their first input
    terms_.bytes = terms_.tokens = 1'000'000;
    terms_.encrypted = true;
    terms_.key_service = "tcp://127.0.0.1:7700";
    terms_.any_team = true;
    terms_.royalty_micro_plume_per_mtoken = 250;  // 0.00025 PLUME per 1,000 tokens
    id_ = data::DatasetId(terms_);
  }
  const Identity& owner() const { return cast_.teams[1]; }
  Code Run(const Entry& e) {
    Code code = Authorize(e, cast_.keys());
    if (code == Code::kOk) code = state_.Apply(e, BodyHash(e)).code;
    auto inv = state_.CheckInvariants();
    EXPECT_TRUE(inv.has_value()) << inv.error().message;
    return code;
  }
  void Refused(const Entry& e, Code want) {
    const auto before = Balances();
    const uint64_t entries = state_.entry_count();
    const auto record = state_.Dataset(id_);
    EXPECT_EQ(Run(e), want) << e.id;
    EXPECT_EQ(Balances(), before);
    EXPECT_EQ(state_.entry_count(), entries);
    EXPECT_EQ(state_.Dataset(id_), record);
  }
  std::map<std::string, MicroPlume> Balances() const {
    return {state_.balances().begin(), state_.balances().end()};
  }
  Entry Publish() { return Signed(cast_.id, MakeDatasetPublish(terms_), owner()); }
  data::Grant Grant(const std::string& task, const Identity& scheduler) {
    data::Grant g;
    g.dataset = id_;
    g.job = "job-1";
    g.task = task;
    g.attempt = 1;
    g.agent = cast_.agents[0].public_key();
    g.issued_unix_ms = 5'000;
    g.expires_unix_ms = 65'000;
    g.scheduler_signature = data::SignGrant(g, cast_.id, scheduler);
    return g;
  }
  Entry Access(const data::Grant& g, const Identity& signer, uint64_t at = 6'000) {
    return Signed(cast_.id,
                  MakeDataAccess(data::AccessRecord{signer.public_key(), g, at}), signer);
  }
  // A settle of task `task` (1 PFLOP at 100/PFLOP, fee 10 %) that reads `tokens` of the dataset.
  Entry Settle(const std::string& task, uint64_t tokens) {
    const TaskReceipt r = test::MakeSignedReceipt(cast_.id, "job-1", task, cast_.agents[0],
                                                  cast_.ledger, kPflop, 100, 1000);
    return Signed(cast_.id, MakeRoyaltySettle("s-" + task, r, {*MakeRoyaltyPart(terms_, tokens)}),
                  cast_.ledger);
  }
  int64_t Bal(const std::string& account) const {
    return state_.Balance(account).value_or(MicroPlume(-1)).value();
  }

  Cast cast_{2, 2};
  State state_;
  data::Terms terms_;
  std::string id_;
};

TEST_F(DataTest, PublishNeedsTheOwnersSignatureAndIsIdempotent) {
  Refused(Signed(cast_.id, MakeDatasetPublish(terms_), cast_.teams[0]), Code::kBadSignature);
  Refused(Signed(cast_.id, MakeDatasetPublish(terms_), cast_.ledger), Code::kBadSignature);
  Entry renamed = Publish();
  renamed.id = "dataset:" + std::string(32, 'a');  // the id must follow the terms
  Refused(renamed, Code::kInvalid);
  Entry bad = MakeDatasetPublish(terms_);
  bad.body.push_back(0);
  Refused(Signed(cast_.id, bad, owner()), Code::kInvalid);
  Entry with_amount = MakeDatasetPublish(terms_);
  with_amount.amount = MicroPlume(1);
  Refused(Signed(cast_.id, with_amount, owner()), Code::kInvalid);
  ASSERT_EQ(Run(Publish()), Code::kOk);
  EXPECT_EQ(state_.Apply(Publish(), BodyHash(Publish())).code, Code::kIdExists);
  ASSERT_TRUE(state_.Dataset(id_));
  EXPECT_EQ(state_.Dataset(id_)->terms, terms_);
  EXPECT_FALSE(state_.Dataset(id_)->revoked);
}

TEST_F(DataTest, RevokeOnlyByTheOwnerOfAPublishedDataset) {
  Refused(Signed(cast_.id, MakeDatasetRevoke({id_, owner().public_key()}), owner()),
          Code::kUnknownDataset);
  ASSERT_EQ(Run(Publish()), Code::kOk);
  // Someone else, signing as themselves and naming themselves: not the owner.
  Refused(Signed(cast_.id, MakeDatasetRevoke({id_, cast_.teams[0].public_key()}), cast_.teams[0]),
          Code::kBadSignature);
  // Naming the owner without the owner's key.
  Refused(Signed(cast_.id, MakeDatasetRevoke({id_, owner().public_key()}), cast_.teams[0]),
          Code::kBadSignature);
  ASSERT_EQ(Run(Signed(cast_.id, MakeDatasetRevoke({id_, owner().public_key()}), owner())),
            Code::kOk);
  EXPECT_TRUE(state_.Dataset(id_)->revoked);
}

// The count a scheduler's publish bound reads: per owner, refused and repeated publishes not
// counted, revoked ones still counted, and the same after the state goes through a snapshot.
TEST_F(DataTest, DatasetsPublishedByCountsPerOwnerAcrossASnapshot) {
  const PublicKey me = owner().public_key();
  EXPECT_EQ(state_.DatasetsPublishedBy(me), 0u);
  Refused(Signed(cast_.id, MakeDatasetPublish(terms_), cast_.teams[0]), Code::kBadSignature);
  ASSERT_EQ(Run(Publish()), Code::kOk);
  EXPECT_EQ(state_.Apply(Publish(), BodyHash(Publish())).code, Code::kIdExists);
  data::Terms other = terms_;
  other.name = "corpus 2";
  ASSERT_EQ(Run(Signed(cast_.id, MakeDatasetPublish(other), owner())), Code::kOk);
  ASSERT_EQ(Run(Signed(cast_.id, MakeDatasetRevoke({id_, me}), owner())), Code::kOk);
  EXPECT_EQ(state_.DatasetsPublishedBy(me), 2u);
  EXPECT_EQ(state_.DatasetsPublishedBy(cast_.teams[0].public_key()), 0u);
  std::vector<uint8_t> bytes;
  state_.EncodeTo(bytes);
  auto copy = State::Decode(bytes);
  ASSERT_TRUE(copy) << copy.error().message;
  EXPECT_EQ(copy->DatasetsPublishedBy(me), 2u);
  EXPECT_EQ(copy->DatasetsPublishedBy(cast_.teams[0].public_key()), 0u);
}

TEST_F(DataTest, AccessRecordsNeedTheOwnerAndAGrantFromTheLedgerKey) {
  Refused(Access(Grant("t0", cast_.ledger), owner()), Code::kUnknownDataset);
  ASSERT_EQ(Run(Publish()), Code::kOk);
  Refused(Access(Grant("t0", cast_.teams[0]), owner()), Code::kBadSignature);  // forged grant
  Refused(Access(Grant("t0", cast_.ledger), cast_.teams[0]), Code::kBadSignature);  // not owner
  Refused(Access(Grant("t0", cast_.ledger), owner(), 65'000), Code::kInvalid);  // after expiry
  ASSERT_EQ(Run(Access(Grant("t0", cast_.ledger), owner())), Code::kOk);
  // One record per grant: the same again is kIdExists, another time kIdConflict.
  EXPECT_EQ(state_.Apply(Access(Grant("t0", cast_.ledger), owner()),
                         BodyHash(Access(Grant("t0", cast_.ledger), owner())))
                .code,
            Code::kIdExists);
  EXPECT_EQ(Run(Access(Grant("t0", cast_.ledger), owner(), 7'000)), Code::kIdConflict);
  ASSERT_EQ(Run(Access(Grant("t1", cast_.ledger), owner())), Code::kOk);
  EXPECT_EQ(state_.Dataset(id_)->accesses, 2u);
  // Revoked datasets still record releases: running jobs finish.
  ASSERT_EQ(Run(Signed(cast_.id, MakeDatasetRevoke({id_, owner().public_key()}), owner())),
            Code::kOk);
  ASSERT_EQ(Run(Access(Grant("t2", cast_.ledger), owner())), Code::kOk);
}

TEST_F(DataTest, SettlePaysTheRoyaltyTheTermsGiveAndNothingElse) {
  Refused(Settle("t0", 400'000), Code::kUnknownDataset);
  ASSERT_EQ(Run(Publish()), Code::kOk);
  const int64_t owner_before = Bal(cast_.team(1));
  // 400,000 tokens x 250 / 1e6 = 100; pay 100, fee 10: the escrow pays 210.
  Entry wrong = Settle("t0", 400'000);
  wrong.legs[0].amount = MicroPlume(101);
  Refused(Signed(cast_.id, Entry(wrong), cast_.ledger), Code::kBadRoyalty);
  wrong = Settle("t0", 400'000);
  wrong.legs[0].account = cast_.team(0);  // the royalty to someone else
  wrong.signatures.clear();
  Refused(Signed(cast_.id, wrong, cast_.ledger), Code::kBadRoyalty);
  wrong = Settle("t0", 400'000);
  wrong.legs[0].kind = LegKind::kFinder;
  wrong.signatures.clear();
  Refused(Signed(cast_.id, wrong, cast_.ledger), Code::kInvalid);
  wrong = Settle("t0", 400'000);
  wrong.body.clear();  // legs without claims
  wrong.signatures.clear();
  Refused(Signed(cast_.id, wrong, cast_.ledger), Code::kInvalid);
  // A royalty on data the provider did not sign that it read.
  data::Terms other = terms_;
  other.blob_hash = Blake2b256("not-an-input");
  ASSERT_EQ(Run(Signed(cast_.id, MakeDatasetPublish(other), owner())), Code::kOk);
  const TaskReceipt r = test::MakeSignedReceipt(cast_.id, "job-1", "t0", cast_.agents[0],
                                                cast_.ledger, kPflop, 100, 1000);
  Refused(Signed(cast_.id, MakeRoyaltySettle("s-x", r, {*MakeRoyaltyPart(other, 400'000)}),
                 cast_.ledger),
          Code::kBadRoyalty);

  ASSERT_EQ(Run(Settle("t0", 400'000)), Code::kOk);
  EXPECT_EQ(Bal(cast_.team(1)) - owner_before, 100);
  EXPECT_EQ(Bal(cast_.provider(0)), 100);
  EXPECT_EQ(Bal(EscrowAccount("job-1")), 1000 - 210);
  EXPECT_EQ(state_.Hold("job-1")->royalties, MicroPlume(100));
  // The escrow must cover the royalty too: 790 left, a task costing 110 + 700 does not fit.
  Refused(Settle("t1", 2'800'000), Code::kHoldExceeded);
  ASSERT_EQ(Run(Settle("t1", 2'000'000)), Code::kOk);  // 110 + 500 = 610 of 790
  EXPECT_EQ(Bal(EscrowAccount("job-1")), 180);
}

TEST_F(DataTest, RoyaltyPartsRoundDownAndSkipZero) {
  EXPECT_FALSE(MakeRoyaltyPart(terms_, 3'999).has_value());  // 0.99975 -> 0: no leg
  auto part = MakeRoyaltyPart(terms_, 4'000);
  ASSERT_TRUE(part.has_value());
  EXPECT_EQ(part->leg.amount, MicroPlume(1));
  EXPECT_EQ(part->leg.account, cast_.team(1));
  EXPECT_EQ(part->claim.dataset, id_);
}

TEST(DataLedger, RoyaltiesReplayAndVerifyFromTheLog) {
  Cast cast(2, 1);
  test::TempDir dir;
  auto ledger =
      Ledger::Open(dir.path(), cast.ledger, cast.operator_id.public_key(), cast.options());
  ASSERT_TRUE(ledger.has_value()) << ledger.error().message;
  data::Terms terms;
  terms.owner = cast.teams[1].public_key();
  terms.name = "clear corpus";
  terms.blob_hash = Blake2b256("input-b");
  terms.bytes = terms.tokens = 10;
  terms.any_team = true;
  terms.royalty_micro_plume_per_mtoken = 1'000'000;  // one micro-PLUME per token
  std::vector<Entry> entries = test::Genesis(cast, MicroPlume(5000));
  entries.push_back(Signed(cast.id, MakeDatasetPublish(terms), cast.teams[1]));
  entries.push_back(Signed(
      cast.id, MakeEscrowHold("h", cast.team(0), "job", MicroPlume(5000)), cast.teams[0]));
  const TaskReceipt r = test::MakeSignedReceipt(cast.id, "job", "t", cast.agents[0], cast.ledger,
                                                kPflop, 1000, 0);
  entries.push_back(Signed(cast.id, MakeRoyaltySettle("s", r, {*MakeRoyaltyPart(terms, 1234)}),
                           cast.ledger));
  for (Code c : test::AppendCodes(**ledger, entries)) EXPECT_EQ(c, Code::kOk);
  EXPECT_EQ((*ledger)->StateCopy().Balance(cast.team(1)), MicroPlume(5000 + 1234));
  ledger->reset();
  auto report = Verify(dir.path());
  ASSERT_TRUE(report.has_value());
  ASSERT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->balances.at(cast.team(1)), MicroPlume(5000 + 1234));
  EXPECT_EQ(report->balances.at(EscrowAccount("job")), MicroPlume(5000 - 1000 - 1234));
}

}  // namespace
}  // namespace plume::ledger
