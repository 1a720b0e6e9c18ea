// The Ledger shell: appends survive a reopen, retries are applied once, keys and locks are
// enforced, proofs check out against signed heads, and a crash (the file cut at every byte
// offset inside the last records) loses nothing that was acknowledged.
#include "plume/ledger/ledger.h"

#include <gtest/gtest.h>

#include "plume/ledger/query.h"
#include "plume/ledger/verify.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Cast;
using test::Signed;

class LedgerTest : public ::testing::Test {
 protected:
  std::unique_ptr<Ledger> OpenAt(const std::filesystem::path& dir) {
    auto l = Ledger::Open(dir, cast_.ledger, cast_.operator_id.public_key(), cast_.options());
    EXPECT_TRUE(l.has_value()) << (l ? "" : l.error().message);
    return l ? std::move(*l) : nullptr;
  }
  Entry Transfer(const std::string& id, int from, int to, int64_t amount) {
    return Signed(cast_.id, MakeTransfer(id, cast_.team(from), cast_.team(to), MicroPlume(amount)),
                  cast_.teams[from]);
  }
  Cast cast_;
  test::TempDir dir_;
};

TEST_F(LedgerTest, ReopenReplaysToTheSameStateAndHead) {
  SignedTreeHead head;
  {
    auto l = OpenAt(dir_.path());
    ASSERT_TRUE(l);
    EXPECT_EQ(l->Head().tree_size, 0u);
    EXPECT_TRUE(VerifyHead(l->Head(), cast_.ledger.public_key()));
    for (Code c : test::AppendCodes(*l, test::Genesis(cast_, MicroPlume(1000)))) {
      EXPECT_EQ(c, Code::kOk);
    }
    EXPECT_EQ(test::AppendCodes(*l, {Transfer("t1", 0, 1, 300), Transfer("t2", 1, 0, 5000)}),
              (std::vector<Code>{Code::kOk, Code::kInsufficientBalance}));
    head = l->Head();
    EXPECT_EQ(head.tree_size, l->size());
    EXPECT_TRUE(VerifyHead(head, cast_.ledger.public_key()));
  }
  auto l = OpenAt(dir_.path());
  ASSERT_TRUE(l);
  EXPECT_EQ(l->Head(), head);
  EXPECT_EQ(l->Balance(cast_.team(0)), MicroPlume(700));
  EXPECT_EQ(l->Balance(cast_.team(1)), MicroPlume(1300));
  EXPECT_EQ(l->recovered_tail_bytes(), 0u);
  auto report = Verify(dir_.path());
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->balances.at(cast_.team(0)), MicroPlume(700));
  EXPECT_EQ(report->minted, MicroPlume(2000));
  auto history = History(*l, cast_.team(0));
  ASSERT_TRUE(history.has_value());
  ASSERT_EQ(history->size(), 3u);  // open, mint, t1
  EXPECT_EQ(history->back().entry.id, "t1");
  EXPECT_NE(DescribeEntry(history->back()).find("0.000300 PLUME"), std::string::npos);
}

TEST_F(LedgerTest, SameIdTwiceIsAppliedOnceAndAnsweredLikeTheFirst) {
  auto l = OpenAt(dir_.path());
  ASSERT_TRUE(l);
  test::AppendCodes(*l, test::Genesis(cast_, MicroPlume(1000)));
  const Entry t = Transfer("pay-7", 0, 1, 100);
  auto first = l->Append(std::vector<Entry>{t});
  ASSERT_TRUE(first.has_value());
  ASSERT_EQ((*first)[0].code, Code::kOk);
  // Retried in a later batch, and twice within one batch.
  auto again = l->Append(std::vector<Entry>{t, t});
  ASSERT_TRUE(again.has_value());
  for (const ApplyResult& r : *again) {
    EXPECT_EQ(r.code, Code::kIdExists);
    EXPECT_EQ(r.index, (*first)[0].index);
  }
  // A retry signed afresh is the same request.
  const Entry resigned = Transfer("pay-7", 0, 1, 100);
  EXPECT_EQ(test::AppendCodes(*l, {resigned}), std::vector<Code>{Code::kIdExists});
  EXPECT_EQ(test::AppendCodes(*l, {Transfer("pay-7", 0, 1, 101)}),
            std::vector<Code>{Code::kIdConflict});
  EXPECT_EQ(l->Balance(cast_.team(0)), MicroPlume(900));
  const uint64_t size = l->size();
  l.reset();
  l = OpenAt(dir_.path());
  ASSERT_TRUE(l);
  auto after = l->Append(std::vector<Entry>{t});
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ((*after)[0].code, Code::kIdExists);
  EXPECT_EQ((*after)[0].index, (*first)[0].index);
  EXPECT_EQ(l->size(), size);
  EXPECT_EQ(l->Balance(cast_.team(0)), MicroPlume(900));
}

TEST_F(LedgerTest, HeadTimesNeverGoBackwardsWhenTheClockDoes) {
  uint64_t clock_ms = 5'000;
  LedgerOptions options = cast_.options();
  options.now_unix_ms = [&] { return clock_ms; };
  auto l = Ledger::Open(dir_.path(), cast_.ledger, cast_.operator_id.public_key(), options);
  ASSERT_TRUE(l.has_value());
  test::AppendCodes(**l, test::Genesis(cast_, MicroPlume(1000)));
  EXPECT_EQ((*l)->Head().timestamp_unix_ms, 5'000u);
  clock_ms = 1'000;  // the system clock was set back
  test::AppendCodes(**l, {Transfer("a", 0, 1, 1)});
  EXPECT_EQ((*l)->Head().timestamp_unix_ms, 5'000u);
  clock_ms = 9'000;
  test::AppendCodes(**l, {Transfer("b", 0, 1, 1)});
  EXPECT_EQ((*l)->Head().timestamp_unix_ms, 9'000u);
  l->reset();
  auto report = Verify(dir_.path());
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok) << report->problem;
}

TEST_F(LedgerTest, KeysAndLockAreEnforced) {
  {
    auto l = OpenAt(dir_.path());
    ASSERT_TRUE(l);
    // A second writer on the same directory is refused while the first is open.
    auto second =
        Ledger::Open(dir_.path(), cast_.ledger, cast_.operator_id.public_key(), cast_.options());
    ASSERT_FALSE(second.has_value());
    EXPECT_NE(second.error().message.find("another process"), std::string::npos);
  }
  auto wrong = Ledger::Open(dir_.path(), Identity::Generate(), cast_.operator_id.public_key());
  ASSERT_FALSE(wrong.has_value());
  EXPECT_NE(wrong.error().message.find("created for ledger key"), std::string::npos);
  auto wrong_op = Ledger::Open(dir_.path(), cast_.ledger, Identity::Generate().public_key());
  EXPECT_FALSE(wrong_op.has_value());
}

TEST_F(LedgerTest, ReadOnlySeesCommittedEntriesAndRefusesAppends) {
  auto l = OpenAt(dir_.path());
  ASSERT_TRUE(l);
  test::AppendCodes(*l, test::Genesis(cast_, MicroPlume(1000)));
  auto ro = Ledger::OpenReadOnly(dir_.path());
  ASSERT_TRUE(ro.has_value()) << ro.error().message;
  EXPECT_EQ((*ro)->Balance(cast_.team(1)), MicroPlume(1000));
  EXPECT_EQ((*ro)->Head(), l->Head());
  EXPECT_FALSE((*ro)->Append(std::vector<Entry>{Transfer("x", 0, 1, 1)}).has_value());
}

TEST_F(LedgerTest, InclusionAndConsistencyProofsCheckAgainstSignedHeads) {
  auto l = OpenAt(dir_.path());
  ASSERT_TRUE(l);
  test::AppendCodes(*l, test::Genesis(cast_, MicroPlume(1000)));
  const SignedTreeHead old_head = l->Head();
  test::AppendCodes(*l, {Transfer("a", 0, 1, 1), Transfer("b", 0, 1, 2), Transfer("c", 1, 0, 3)});
  const SignedTreeHead head = l->Head();
  for (uint64_t i = 0; i < l->size(); ++i) {
    auto bundle = l->ProveInclusion(i);
    ASSERT_TRUE(bundle.has_value());
    EXPECT_TRUE(CheckInclusion(*bundle, cast_.ledger.public_key())) << i;
    EXPECT_FALSE(CheckInclusion(*bundle, cast_.operator_id.public_key()));
    InclusionBundle forged = *bundle;
    forged.logged.entry.amount = MicroPlume(forged.logged.entry.amount.value() + 1);
    EXPECT_FALSE(CheckInclusion(forged, cast_.ledger.public_key()));
    forged = *bundle;
    forged.head.tree_size += 1;
    EXPECT_FALSE(CheckInclusion(forged, cast_.ledger.public_key()));
  }
  EXPECT_FALSE(l->ProveInclusion(l->size()).has_value());
  ASSERT_TRUE(l->IndexOf("b").has_value());
  EXPECT_EQ(l->ReadEntry(*l->IndexOf("b"))->entry.id, "b");
  EXPECT_FALSE(l->IndexOf("nope").has_value());
  auto proof = l->ConsistencyProof(old_head.tree_size, head.tree_size);
  ASSERT_TRUE(proof.has_value());
  EXPECT_TRUE(
      VerifyConsistency(old_head.tree_size, head.tree_size, old_head.root, head.root, *proof));
  EXPECT_FALSE(
      VerifyConsistency(old_head.tree_size, head.tree_size, head.root, old_head.root, *proof));
}

// One record of ledger.log as the tests see it.
struct RecordSpan {
  uint64_t offset;
  uint64_t end;
  bool head;
  uint64_t entries_before;
};

std::vector<RecordSpan> ListRecords(const std::filesystem::path& path) {
  std::vector<RecordSpan> out;
  auto r = LogReader::Open(path);
  EXPECT_TRUE(r.has_value());
  uint64_t entries = 0;
  while ((*r)->ReadNext() == LogReader::Next::kRecord) {
    const bool head = (*r)->payload()[0] == 2;
    out.push_back(RecordSpan{(*r)->offset(), (*r)->end_offset(), head, entries});
    if (!head) ++entries;
  }
  return out;
}

TEST_F(LedgerTest, CutAtEveryOffsetOfTheLastRecordsRecoversTheAcknowledgedPrefix) {
  struct Acked {
    uint64_t file_end;
    uint64_t size;
    SignedTreeHead head;
    std::optional<MicroPlume> team0;
  };
  std::vector<Acked> acked;
  {
    auto l = OpenAt(dir_.path());
    ASSERT_TRUE(l);
    test::AppendCodes(*l, test::Genesis(cast_, MicroPlume(1000)));
    acked.push_back(Acked{std::filesystem::file_size(dir_.path() / "ledger.log"), l->size(),
                          l->Head(), l->Balance(cast_.team(0))});
    for (int batch = 0; batch < 3; ++batch) {
      const std::string b = std::to_string(batch);
      test::AppendCodes(*l, {Transfer("x" + b, 0, 1, 10 + batch), Transfer("y" + b, 1, 0, 1)});
      acked.push_back(Acked{std::filesystem::file_size(dir_.path() / "ledger.log"), l->size(),
                            l->Head(), l->Balance(cast_.team(0))});
    }
  }
  const auto log = dir_.path() / "ledger.log";
  const std::vector<uint8_t> whole = test::ReadFile(log);
  const std::vector<RecordSpan> records = ListRecords(log);
  ASSERT_GE(records.size(), 9u);
  const uint64_t first_cut = records[records.size() - 9].offset;  // the last three batches
  test::TempDir copy;
  for (uint64_t cut = first_cut; cut <= whole.size(); ++cut) {
    std::filesystem::remove_all(copy.path());
    std::filesystem::create_directories(copy.path());
    test::WriteFile(copy.path() / "ledger.log",
                    std::vector<uint8_t>(whole.begin(), whole.begin() + cut));
    // What was acknowledged (fsynced and answered) before this cut must all come back.
    const Acked* expect = nullptr;
    for (const Acked& a : acked) {
      if (a.file_end <= cut) expect = &a;
    }
    auto l = OpenAt(copy.path());
    ASSERT_TRUE(l) << "cut " << cut;
    ASSERT_NE(expect, nullptr);
    EXPECT_EQ(l->size(), expect->size) << cut;
    EXPECT_EQ(l->Head(), expect->head) << cut;
    EXPECT_EQ(l->Balance(cast_.team(0)), expect->team0) << cut;
    EXPECT_EQ(l->recovered_tail_bytes(), cut - expect->file_end) << cut;
    // The tail was cut on disk, so the directory now verifies as a whole.
    l.reset();
    auto report = Verify(copy.path());
    ASSERT_TRUE(report.has_value());
    EXPECT_TRUE(report->ok) << "cut " << cut << ": " << report->problem;
    // Appending after recovery works and survives another reopen.
    l = OpenAt(copy.path());
    ASSERT_TRUE(l);
    const uint64_t size = l->size();
    EXPECT_EQ(test::AppendCodes(*l, {Transfer("after-" + std::to_string(cut), 1, 0, 1)}),
              std::vector<Code>{Code::kOk});
    EXPECT_EQ(l->size(), size + 1);
  }
}

TEST_F(LedgerTest, DamageBeforeCommittedRecordsIsRefusedNotCut) {
  {
    auto l = OpenAt(dir_.path());
    ASSERT_TRUE(l);
    test::AppendCodes(*l, test::Genesis(cast_, MicroPlume(1000)));
    test::AppendCodes(*l, {Transfer("a", 0, 1, 1)});
  }
  const auto log = dir_.path() / "ledger.log";
  std::vector<uint8_t> bytes = test::ReadFile(log);
  const std::vector<RecordSpan> records = ListRecords(log);
  bytes[records[1].offset + 12] ^= 0x40;
  test::WriteFile(log, bytes);
  auto l = Ledger::Open(dir_.path(), cast_.ledger, cast_.operator_id.public_key(), cast_.options());
  ASSERT_FALSE(l.has_value());
  EXPECT_NE(l.error().message.find("committed records follow"), std::string::npos)
      << l.error().message;
  EXPECT_EQ(test::ReadFile(log), bytes);  // nothing was cut
}

}  // namespace
}  // namespace plume::ledger
