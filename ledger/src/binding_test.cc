// Every signature is bound to one ledger: entries and receipts signed for ledger A are refused by
// ledger B even when both were created with the same ledger and operator keys (the replay of a
// staging mint onto production), and a snapshot is trusted only under the ledger key's signature.
// Each check is shown passing on the right input and failing on the replayed or forged one.
#include <gtest/gtest.h>

#include "plume/ledger/ledger.h"
#include "plume/ledger/log.h"
#include "plume/ledger/verify.h"
#include "snapshot.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Signed;

class BindingTest : public ::testing::Test {
 protected:
  std::unique_ptr<Ledger> OpenAt(const std::filesystem::path& dir, LedgerOptions options) {
    auto l = Ledger::Open(dir, cast_.ledger, cast_.operator_id.public_key(), std::move(options));
    EXPECT_TRUE(l.has_value()) << (l ? "" : l.error().message);
    return l ? std::move(*l) : nullptr;
  }
  test::Cast cast_;
  test::TempDir dir_a_;
  test::TempDir dir_b_;
};

TEST_F(BindingTest, EntriesAndReceiptsSignedForOneLedgerAreRefusedByAnother) {
  // Same keys, two ledgers: only the random genesis nonce tells them apart.
  auto a = OpenAt(dir_a_.path(), cast_.options());
  LedgerOptions b_options;
  b_options.genesis_nonce = NewLedgerNonce();
  auto b = OpenAt(dir_b_.path(), b_options);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->keys().ledger_id, cast_.id);
  ASSERT_NE(b->keys().ledger_id, a->keys().ledger_id);
  const LedgerId& b_id = b->keys().ledger_id;

  // Ledger A accepts its genesis (opens, mints), a hold and a settle.
  std::vector<Entry> a_entries = test::Genesis(cast_, MicroPlume(5'000'000));
  a_entries.push_back(Signed(cast_.id,
                             MakeEscrowHold("hold:j", cast_.team(0), "j", MicroPlume(1'000'000)),
                             cast_.teams[0]));
  a_entries.push_back(Signed(
      cast_.id,
      MakeSettle("settle:j:0", test::MakeSignedReceipt(cast_.id, "j", "0", cast_.agents[0],
                                                       cast_.ledger, 1'000'000'000'000'000, 10, 0)),
      cast_.ledger));
  for (Code c : test::AppendCodes(*a, a_entries)) EXPECT_EQ(c, Code::kOk);

  // B opens the same accounts with entries signed for B, so only the binding can refuse what
  // follows (not a missing account).
  std::vector<Entry> b_opens;
  for (size_t i = 0; i < cast_.teams.size(); ++i) {
    b_opens.push_back(
        Signed(b_id, MakeOpenAccount("open-t" + std::to_string(i), cast_.team(i)), cast_.teams[i]));
  }
  b_opens.push_back(Signed(b_id, MakeOpenAccount("open-p0", cast_.provider(0)), cast_.agents[0]));
  for (Code c : test::AppendCodes(*b, b_opens)) EXPECT_EQ(c, Code::kOk);

  // Replaying A's mint, hold and settle bytes onto B: every signature is refused.
  const Entry& a_mint = a_entries[2 * cast_.teams.size() - 1];
  ASSERT_EQ(a_mint.type, EntryType::kMint);
  EXPECT_EQ(test::AppendCodes(*b, {a_mint}), std::vector<Code>{Code::kBadSignature});
  // B needs a real balance for the hold, minted for B, so the hold fails on its signature alone.
  EXPECT_EQ(test::AppendCodes(*b, {Signed(b_id, MakeMint("m", cast_.team(0), MicroPlume(5'000'000)),
                                          cast_.operator_id)}),
            std::vector<Code>{Code::kOk});
  const Entry& a_hold = a_entries[a_entries.size() - 2];
  EXPECT_EQ(test::AppendCodes(*b, {a_hold}), std::vector<Code>{Code::kBadSignature});
  // The same hold signed for B is accepted: the refusal above was the binding, not the hold.
  Entry b_hold = a_hold;
  b_hold.signatures = {SignEntry(b_hold, b_id, cast_.teams[0])};
  EXPECT_EQ(test::AppendCodes(*b, {b_hold}), std::vector<Code>{Code::kOk});
  // A's countersigned receipt re-wrapped in a settle the ledger key signs for B: the receipt's
  // own signatures still name A.
  Entry settle = MakeSettle("settle:j:0", a_entries.back().receipt.value());
  settle.signatures = {SignEntry(settle, b_id, cast_.ledger)};
  EXPECT_EQ(test::AppendCodes(*b, {settle}), std::vector<Code>{Code::kBadReceipt});
  Entry fresh =
      MakeSettle("settle:j:0", test::MakeSignedReceipt(b_id, "j", "0", cast_.agents[0],
                                                       cast_.ledger, 1'000'000'000'000'000, 10, 0));
  fresh.signatures = {SignEntry(fresh, b_id, cast_.ledger)};
  EXPECT_EQ(test::AppendCodes(*b, {fresh}), std::vector<Code>{Code::kOk});

  EXPECT_EQ(b->Balance(cast_.team(1)), MicroPlume(0));  // A's mint to team 1 never landed
  a.reset();
  b.reset();
  for (const auto* dir : {&dir_a_, &dir_b_}) {
    auto report = Verify(dir->path());
    ASSERT_TRUE(report.has_value());
    EXPECT_TRUE(report->ok) << report->problem;
  }
}

TEST_F(BindingTest, VerifyRefusesAnEntryWhoseSignatureNamesAnotherLedger) {
  {
    auto a = OpenAt(dir_a_.path(), cast_.options());
    ASSERT_TRUE(a);
    for (Code c : test::AppendCodes(*a, test::Genesis(cast_, MicroPlume(1000)))) {
      EXPECT_EQ(c, Code::kOk);
    }
  }
  // Rewrite the header with another nonce (and a right checksum): same keys, another ledger id.
  const auto log = dir_a_.path() / "ledger.log";
  std::vector<uint8_t> bytes = test::ReadFile(log);
  const std::vector<uint8_t> header = EncodeLogHeader(
      LogHeader{cast_.ledger.public_key(), cast_.operator_id.public_key(), NewLedgerNonce()});
  std::copy(header.begin(), header.end(), bytes.begin());
  test::WriteFile(log, bytes);
  auto report = Verify(dir_a_.path());
  ASSERT_TRUE(report.has_value());
  EXPECT_FALSE(report->ok);
  EXPECT_EQ(report->first_bad_entry, std::optional<uint64_t>(0));
}

TEST_F(BindingTest, VersionOneLogsAreRefusedByName) {
  // A version 1 header: "PLUMELOG", version 1, two keys, crc (80 bytes).
  std::vector<uint8_t> v1 = {'P', 'L', 'U', 'M', 'E', 'L', 'O', 'G', 1, 0, 0, 0};
  v1.resize(80);
  const auto log = dir_a_.path() / "ledger.log";
  test::WriteFile(log, v1);
  auto ro = Ledger::OpenReadOnly(dir_a_.path());
  ASSERT_FALSE(ro.has_value());
  EXPECT_NE(ro.error().message.find("version 1"), std::string::npos) << ro.error().message;
  auto rw = Ledger::Open(dir_a_.path(), cast_.ledger, cast_.operator_id.public_key());
  ASSERT_FALSE(rw.has_value());
  EXPECT_NE(rw.error().message.find("version 1"), std::string::npos) << rw.error().message;
}

TEST_F(BindingTest, VersionThreeLogsAreRefusedByName) {
  // A whole version 3 log: a good header (same length as version 4, right checksum) and a
  // committed batch after it, as the previous build wrote them.
  {
    auto a = OpenAt(dir_a_.path(), cast_.options());
    ASSERT_TRUE(a);
    test::AppendCodes(*a, test::Genesis(cast_, MicroPlume(1000)));
  }
  const auto log = dir_a_.path() / "ledger.log";
  std::vector<uint8_t> bytes = test::ReadFile(log);
  ASSERT_EQ(bytes[8], 4);  // this build writes version 4
  bytes[8] = 3;
  const uint32_t crc = Crc32c(std::span(bytes).first(kLogHeaderBytes - 4));
  for (int k = 0; k < 4; ++k) bytes[kLogHeaderBytes - 4 + k] = static_cast<uint8_t>(crc >> (8 * k));
  test::WriteFile(log, bytes);
  const std::vector<uint8_t> v3 = bytes;
  auto ro = Ledger::OpenReadOnly(dir_a_.path());
  ASSERT_FALSE(ro.has_value());
  EXPECT_NE(ro.error().message.find("format version 3, this build reads 4"), std::string::npos)
      << ro.error().message;
  auto rw = Ledger::Open(dir_a_.path(), cast_.ledger, cast_.operator_id.public_key());
  ASSERT_FALSE(rw.has_value());
  EXPECT_NE(rw.error().message.find("version 3"), std::string::npos) << rw.error().message;
  auto report = Verify(dir_a_.path());
  ASSERT_TRUE(report.has_value());
  EXPECT_FALSE(report->ok);
  EXPECT_NE(report->problem.find("version 3"), std::string::npos) << report->problem;
  EXPECT_EQ(test::ReadFile(log), v3);  // refused, never rewritten
  // Control: the same bytes with the version put back open fine.
  bytes[8] = 4;
  const uint32_t back = Crc32c(std::span(bytes).first(kLogHeaderBytes - 4));
  for (int k = 0; k < 4; ++k)
    bytes[kLogHeaderBytes - 4 + k] = static_cast<uint8_t>(back >> (8 * k));
  test::WriteFile(log, bytes);
  EXPECT_TRUE(Ledger::OpenReadOnly(dir_a_.path()).has_value());
}

TEST_F(BindingTest, ASnapshotIsTrustedOnlyUnderTheLedgerKeysSignature) {
  LedgerOptions options = cast_.options();
  options.snapshot_every_entries = 1;
  {
    auto a = OpenAt(dir_a_.path(), options);
    ASSERT_TRUE(a);
    test::AppendCodes(*a, test::Genesis(cast_, MicroPlume(1000)));
  }
  auto real = ReadSnapshot(dir_a_.path(), cast_.keys());
  ASSERT_TRUE(real.has_value()) << real.error().message;
  // The same number of entries with bigger mints: a state the log never produced, whose digest
  // is right, as anyone who can write the directory could make it.
  State forged;
  for (const Entry& e : test::Genesis(cast_, MicroPlume(1'000'000'000))) {
    ASSERT_EQ(forged.Apply(e, BodyHash(e)).code, Code::kOk);
  }
  Snapshot bad = *real;
  bad.state = forged;
  const Identity stranger = Identity::Generate();
  ASSERT_TRUE(WriteSnapshot(dir_a_.path(), bad, stranger, cast_.id));
  {
    auto a = OpenAt(dir_a_.path(), options);
    ASSERT_TRUE(a);
    EXPECT_FALSE(a->opened_from_snapshot());
    EXPECT_EQ(a->Balance(cast_.team(0)), MicroPlume(1000));
  }
  // Control: the same forged state under the ledger key's signature is taken, so the signature
  // is what refused it above (the ledger key never signs a state it did not replay).
  ASSERT_TRUE(WriteSnapshot(dir_a_.path(), bad, cast_.ledger, cast_.id));
  auto ro = Ledger::OpenReadOnly(dir_a_.path());
  ASSERT_TRUE(ro.has_value());
  EXPECT_TRUE((*ro)->opened_from_snapshot());
  EXPECT_EQ((*ro)->Balance(cast_.team(0)), MicroPlume(1'000'000'000));
}

}  // namespace
}  // namespace plume::ledger
