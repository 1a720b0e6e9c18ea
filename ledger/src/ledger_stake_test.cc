// Stake entries through the whole Ledger: written to and replayed from a version 4 log,
// verified offline, caught by Verify when a memo or leg is changed on disk (even with the
// record's checksum recomputed), and named with their legs and times in the history text.
#include <gtest/gtest.h>

#include <algorithm>

#include "plume/ledger/limits.h"
#include "plume/ledger/log.h"
#include "plume/ledger/query.h"
#include "plume/ledger/verify.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Signed;

class LedgerStakeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l =
        Ledger::Open(dir_.path(), cast_.ledger, cast_.operator_id.public_key(), cast_.options());
    ASSERT_TRUE(l.has_value()) << l.error().message;
    ledger_ = std::move(*l);
    for (Code c : test::AppendCodes(*ledger_, test::Genesis(cast_, MicroPlume(1000)))) {
      ASSERT_EQ(c, Code::kOk);
    }
    const std::vector<Entry> ops = {
        Signed(cast_.id, MakeMint("m", cast_.provider(0), MicroPlume(500)), cast_.operator_id),
        Signed(cast_.id, MakeStake("s", agent_, MicroPlume(300)), cast_.agents[0]),
        Signed(cast_.id, MakeUnstake("u1", agent_, MicroPlume(100), 5000), cast_.agents[0],
               cast_.ledger),
        Signed(cast_.id, MakeUnstake("u2", agent_, MicroPlume(50), 9000), cast_.agents[0],
               cast_.ledger),
        Signed(cast_.id, MakeWithdraw("w1", agent_, MicroPlume(100), 6000), cast_.ledger),
        Signed(cast_.id,
               MakeSlash("x1", Faulty(), MicroPlume(180),
                         {{LegKind::kClawback, cast_.team(0), MicroPlume(40)},
                          {LegKind::kCompensation, cast_.team(0), MicroPlume(60)},
                          {LegKind::kFinder, cast_.provider(1), MicroPlume(20)},
                          {LegKind::kTreasury, "treasury", MicroPlume(60)}},
                         "audit a-17: output 3f2a.. differs from the auditor's"),
               cast_.ledger),
    };
    for (Code c : test::AppendCodes(*ledger_, ops)) ASSERT_EQ(c, Code::kOk);
  }
  TaskReceipt Faulty() {
    return test::MakeSignedReceipt(cast_.id, "job-9", "job-9/s0", cast_.agents[0], cast_.ledger,
                                   2'000'000'000'000'000ULL, 5, 0);
  }
  // The log with the first occurrence of `from` replaced by `to` (same length), and that record's
  // checksum recomputed, as someone who can write the file would do.
  std::vector<uint8_t> Rewritten(const std::string& from, const std::string& to) {
    std::vector<uint8_t> bytes = test::ReadFile(dir_.path() / "ledger.log");
    auto at = std::search(bytes.begin(), bytes.end(), from.begin(), from.end());
    EXPECT_NE(at, bytes.end()) << from;
    if (at == bytes.end()) return bytes;
    std::copy(to.begin(), to.end(), at);
    const size_t pos = static_cast<size_t>(at - bytes.begin());
    auto reader = LogReader::Open(dir_.path() / "ledger.log");
    EXPECT_TRUE(reader.has_value());
    while ((*reader)->ReadNext() == LogReader::Next::kRecord) {
      if ((*reader)->end_offset() <= pos) continue;
      const uint64_t start = (*reader)->offset() + kRecordFrameBytes;
      const uint32_t crc = Crc32c(std::span(bytes).subspan(start, (*reader)->end_offset() - start));
      for (int k = 0; k < 4; ++k)
        bytes[(*reader)->offset() + 4 + k] = static_cast<uint8_t>(crc >> (8 * k));
      break;
    }
    return bytes;
  }
  VerifyReport VerifyBytes(const std::vector<uint8_t>& bytes) {
    test::WriteFile(copy_.path() / "ledger.log", bytes);
    auto report = Verify(copy_.path());
    EXPECT_TRUE(report.has_value());
    return report ? *report : VerifyReport{};
  }

  test::Cast cast_;
  test::TempDir dir_;
  test::TempDir copy_;
  std::unique_ptr<Ledger> ledger_;
  PublicKey agent_ = cast_.agents[0].public_key();
};

TEST_F(LedgerStakeTest, AVersionFourLogReplaysAndVerifies) {
  // 300 staked; u1 (100) withdrawn; the slash of 180 took the 150 staked and 30 of u2.
  EXPECT_EQ(ledger_->Balance(StakeAccount(agent_)), MicroPlume(0));
  EXPECT_EQ(ledger_->Balance(UnbondAccount(agent_)), MicroPlume(20));
  EXPECT_EQ(ledger_->Balance(cast_.provider(0)), MicroPlume(300));
  EXPECT_EQ(ledger_->Balance(cast_.team(0)), MicroPlume(1100));
  EXPECT_EQ(ledger_->Unbonding(agent_), (std::vector<Tranche>{{"u2", MicroPlume(20), 9000}}));
  EXPECT_TRUE(ledger_->Slashed("job-9", "job-9/s0"));
  const std::vector<uint8_t> log = test::ReadFile(dir_.path() / "ledger.log");
  EXPECT_EQ(log[8], 4);
  ledger_.reset();
  auto reopened = Ledger::OpenReadOnly(dir_.path());
  ASSERT_TRUE(reopened.has_value());
  EXPECT_EQ((*reopened)->Unbonding(agent_), (std::vector<Tranche>{{"u2", MicroPlume(20), 9000}}));
  auto report = Verify(dir_.path());
  ASSERT_TRUE(report.has_value());
  ASSERT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->balances.at(UnbondAccount(agent_)), MicroPlume(20));
  EXPECT_EQ(report->balances.at("treasury"), MicroPlume(60));
}

TEST_F(LedgerStakeTest, VerifyFindsAChangedMemoLegOrReleaseTime) {
  ledger_.reset();
  ASSERT_TRUE(VerifyBytes(test::ReadFile(dir_.path() / "ledger.log")).ok);  // control
  const uint64_t slash_index = 6 + 5;  // genesis (2 teams x 2 + 2 providers), then the sixth op
  // The memo: still valid UTF-8, the record's checksum right; only the signature can tell.
  VerifyReport memo = VerifyBytes(Rewritten("audit a-17", "audit a-18"));
  EXPECT_FALSE(memo.ok);
  EXPECT_EQ(memo.first_bad_entry, std::optional<uint64_t>(slash_index));
  EXPECT_NE(memo.problem.find("bad_signature"), std::string::npos) << memo.problem;
  // A leg moved to another team: the account name's hex, changed in place.
  const std::string team0 = cast_.team(0);
  std::string other = team0;
  other.back() = other.back() == '0' ? '1' : '0';
  VerifyReport leg = VerifyBytes(Rewritten(team0 + std::string("\x3c\x00\x00\x00", 4),
                                           other + std::string("\x3c\x00\x00\x00", 4)));
  EXPECT_FALSE(leg.ok);
  EXPECT_EQ(leg.first_bad_entry, std::optional<uint64_t>(slash_index));
  // An earlier release: u2's time (9000 = 0x2328) in its record.
  const std::string u2_time("\x28\x23\x00\x00\x00\x00\x00\x00", 8);
  VerifyReport time =
      VerifyBytes(Rewritten(u2_time, std::string("\x27\x23\x00\x00\x00\x00\x00\x00", 8)));
  EXPECT_FALSE(time.ok);
  EXPECT_EQ(time.first_bad_entry, std::optional<uint64_t>(6 + 3));
}

TEST_F(LedgerStakeTest, HistoryNamesEveryStakeEntryWithItsLegsAndTimes) {
  auto all = History(*ledger_, std::nullopt);
  ASSERT_TRUE(all.has_value());
  std::vector<std::string> lines;
  for (const LoggedEntry& e : *all) lines.push_back(DescribeEntry(e));
  ASSERT_EQ(lines.size(), 12u);
  EXPECT_NE(lines[8].find("unstake id=u1"), std::string::npos) << lines[8];
  EXPECT_NE(lines[8].find("release_at_ms=5000"), std::string::npos) << lines[8];
  EXPECT_NE(lines[8].find(UnbondAccount(agent_)), std::string::npos) << lines[8];
  EXPECT_NE(lines[10].find("withdraw id=w1"), std::string::npos) << lines[10];
  EXPECT_NE(lines[10].find(" at_ms=6000"), std::string::npos) << lines[10];
  const std::string& slash = lines[11];
  for (const std::string& part : std::vector<std::string>{
           "slash id=x1 job=job-9", "task=job-9/s0", "0.000180 PLUME",
           "legs: clawback " + cast_.team(0) + " 0.000040 PLUME",
           "compensation " + cast_.team(0) + " 0.000060 PLUME",
           "finder " + cast_.provider(1) + " 0.000020 PLUME", "treasury treasury 0.000060 PLUME",
           "memo=\"audit a-17: output 3f2a.. differs from the auditor's\""}) {
    EXPECT_NE(slash.find(part), std::string::npos) << part << "\n in: " << slash;
  }
  // A slash touches the stake, the unbond account and every leg's account.
  for (const std::string& account :
       std::vector<std::string>{StakeAccount(agent_), UnbondAccount(agent_), cast_.team(0),
                                cast_.provider(1), "treasury"}) {
    auto h = History(*ledger_, account);
    ASSERT_TRUE(h.has_value());
    ASSERT_FALSE(h->empty()) << account;
    EXPECT_EQ(h->back().entry.id, "x1") << account;
  }
  auto other = History(*ledger_, cast_.team(1));
  ASSERT_TRUE(other.has_value());
  EXPECT_NE(other->back().entry.id, "x1");
}

TEST_F(LedgerStakeTest, MemosCannotForgeLinesOrDriveTheTerminal) {
  LoggedEntry l;
  l.entry =
      MakeSlash("x", Faulty(), MicroPlume(1), {{LegKind::kTreasury, "treasury", MicroPlume(1)}},
                "a\n#99 mint \"x\\ \x1b[31m \xc2\x9b caf\xc3\xa9");
  const std::string line = DescribeEntry(l);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_NE(line.find(R"(memo="a\x0a#99 mint \"x\\ \x1b[31m \u009b caf)"), std::string::npos)
      << line;
  EXPECT_NE(line.find("caf\xc3\xa9\""), std::string::npos) << line;  // other UTF-8 as is
}

// The longest slash the rules allow (a receipt with every input hash, every leg, the longest
// memo, four signatures) is written and read back whole.
TEST_F(LedgerStakeTest, TheLargestSlashFitsTheLog) {
  TaskReceipt r = Faulty();
  r.job_id.assign(kJobIdBytesMax, 'j');
  r.task_id.assign(kTaskIdBytesMax, 't');
  r.input_hashes.assign(kReceiptInputsMax, Blake2b256("in"));
  r.device.assign(kDeviceBytesMax, 'd');
  r.kernel_build.assign(kKernelBuildBytesMax, 'k');
  r.agent_signature = SignAsAgent(r, cast_.id, cast_.agents[0]);
  r.scheduler_signature = Countersign(r, cast_.id, cast_.ledger);
  ASSERT_EQ(test::AppendCodes(*ledger_, {Signed(cast_.id, MakeStake("s2", agent_, MicroPlume(200)),
                                                cast_.agents[0])}),
            std::vector<Code>{Code::kOk});
  std::vector<Leg> legs(kSlashLegsMax, Leg{LegKind::kClawback, cast_.team(1), MicroPlume(1)});
  std::string memo;
  while (memo.size() + 3 <= kMemoBytesMax) memo += "\xe2\x82\xac";  // three-byte characters
  Entry e = MakeSlash(std::string(kEntryIdBytesMax, 'i'), r, MicroPlume(kSlashLegsMax), legs, memo);
  e.signatures.push_back(SignEntry(e, cast_.id, cast_.ledger));
  e.signatures.push_back(SignEntry(e, cast_.id, cast_.operator_id));
  e.signatures.push_back(SignEntry(e, cast_.id, cast_.agents[0]));
  e.signatures.push_back(SignEntry(e, cast_.id, cast_.teams[0]));
  ASSERT_EQ(test::AppendCodes(*ledger_, {e}), std::vector<Code>{Code::kOk});
  auto back = ledger_->ReadEntry(*ledger_->IndexOf(e.id));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->entry, e);
  ledger_.reset();
  auto report = Verify(dir_.path());
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok) << report->problem;
}

}  // namespace
}  // namespace plume::ledger
