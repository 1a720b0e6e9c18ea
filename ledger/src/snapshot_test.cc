// Snapshots: Open starts from a snapshot only when it matches the log, and ends in exactly the
// state a full replay gives; a damaged or stale snapshot is ignored, never trusted.
#include <gtest/gtest.h>

#include "plume/ledger/ledger.h"
#include "plume/ledger/verify.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Signed;

class SnapshotTest : public ::testing::Test {
 protected:
  std::unique_ptr<Ledger> OpenAt(const std::filesystem::path& dir) {
    LedgerOptions options = cast_.options();
    options.snapshot_every_entries = 4;
    auto l = Ledger::Open(dir, cast_.ledger, cast_.operator_id.public_key(), options);
    EXPECT_TRUE(l.has_value()) << (l ? "" : l.error().message);
    return l ? std::move(*l) : nullptr;
  }
  void AppendTransfers(Ledger& l, int batch) {
    std::vector<Entry> entries;
    for (int i = 0; i < 3; ++i) {
      entries.push_back(Signed(
          cast_.id,
          MakeTransfer("b" + std::to_string(batch) + "-" + std::to_string(i), cast_.team(i % 2),
                       cast_.team((i + 1) % 2), MicroPlume(1 + i + batch)),
          cast_.teams[i % 2]));
    }
    for (Code c : test::AppendCodes(l, entries)) EXPECT_EQ(c, Code::kOk);
  }
  void CopyLog(const std::filesystem::path& to) {
    std::filesystem::create_directories(to);
    std::filesystem::copy_file(dir_.path() / "ledger.log", to / "ledger.log",
                               std::filesystem::copy_options::overwrite_existing);
  }
  // Balances, head and size of the ledger in `dir` opened without its snapshot.
  void ExpectSameAsFullReplay(Ledger& l) {
    test::TempDir plain;
    CopyLog(plain.path());
    auto full = Ledger::OpenReadOnly(plain.path());
    ASSERT_TRUE(full.has_value());
    EXPECT_FALSE((*full)->opened_from_snapshot());
    EXPECT_EQ((*full)->Head(), l.Head());
    EXPECT_EQ((*full)->size(), l.size());
    const State a = (*full)->StateCopy();
    const State b = l.StateCopy();
    using Sorted = std::map<std::string, MicroPlume>;
    EXPECT_EQ(Sorted(a.balances().begin(), a.balances().end()),
              Sorted(b.balances().begin(), b.balances().end()));
    for (const Identity& agent : cast_.agents) {
      EXPECT_EQ(a.Unbonding(agent.public_key()), b.Unbonding(agent.public_key()));
    }
  }

  test::Cast cast_;
  test::TempDir dir_;
};

TEST_F(SnapshotTest, OpenStartsFromAMatchingSnapshotAndEndsInTheSameState) {
  {
    auto l = OpenAt(dir_.path());
    ASSERT_TRUE(l);
    test::AppendCodes(*l, test::Genesis(cast_, MicroPlume(1000)));
    for (int b = 0; b < 4; ++b) AppendTransfers(*l, b);
  }
  ASSERT_TRUE(std::filesystem::exists(dir_.path() / "snapshot"));
  auto l = OpenAt(dir_.path());
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->opened_from_snapshot());
  ExpectSameAsFullReplay(*l);
  // Entries before the snapshot are still readable and provable, retries still answered once.
  auto bundle = l->ProveInclusion(1);
  ASSERT_TRUE(bundle.has_value());
  EXPECT_TRUE(CheckInclusion(*bundle, cast_.ledger.public_key()));
  EXPECT_EQ(bundle->logged.entry.id, "mint-team-0");
  const Entry retry = Signed(
      cast_.id, MakeTransfer("b0-0", cast_.team(0), cast_.team(1), MicroPlume(1)), cast_.teams[0]);
  EXPECT_EQ(test::AppendCodes(*l, {retry}), std::vector<Code>{Code::kIdExists});
  AppendTransfers(*l, 9);
  l.reset();
  auto report = Verify(dir_.path());
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok) << report->problem;
}

TEST_F(SnapshotTest, DamagedOrStaleSnapshotsAreIgnored) {
  test::TempDir early;
  {
    auto l = OpenAt(dir_.path());
    ASSERT_TRUE(l);
    test::AppendCodes(*l, test::Genesis(cast_, MicroPlume(1000)));
    CopyLog(early.path());  // the log as it was before the later batches
    for (int b = 0; b < 3; ++b) AppendTransfers(*l, b);
  }
  const std::vector<uint8_t> snapshot = test::ReadFile(dir_.path() / "snapshot");
  // Any flipped byte: ignored, and the full replay gives the right state.
  for (size_t at : {size_t{3}, size_t{30}, snapshot.size() / 2, snapshot.size() - 1}) {
    std::vector<uint8_t> bad = snapshot;
    bad[at] ^= 0x04;
    test::WriteFile(dir_.path() / "snapshot", bad);
    auto l = OpenAt(dir_.path());
    ASSERT_TRUE(l);
    EXPECT_FALSE(l->opened_from_snapshot()) << at;
    ExpectSameAsFullReplay(*l);
  }
  // A snapshot that is ahead of the log (the log was restored from an older copy).
  test::WriteFile(early.path() / "snapshot", snapshot);
  auto l = OpenAt(early.path());
  ASSERT_TRUE(l);
  EXPECT_FALSE(l->opened_from_snapshot());
  EXPECT_EQ(l->size(), 6u);
}

TEST_F(SnapshotTest, TornTailAfterASnapshotIsCut) {
  uint64_t committed = 0;
  {
    auto l = OpenAt(dir_.path());
    ASSERT_TRUE(l);
    test::AppendCodes(*l, test::Genesis(cast_, MicroPlume(1000)));
    committed = l->size();
    LedgerOptions no_snapshots = cast_.options();
    no_snapshots.snapshot_every_entries = 0;
    l.reset();
    auto l2 = Ledger::Open(dir_.path(), cast_.ledger, cast_.operator_id.public_key(), no_snapshots);
    ASSERT_TRUE(l2.has_value());
    AppendTransfers(**l2, 0);
  }
  const auto log = dir_.path() / "ledger.log";
  std::vector<uint8_t> bytes = test::ReadFile(log);
  bytes.resize(bytes.size() - 10);  // tear the last batch
  test::WriteFile(log, bytes);
  auto l = OpenAt(dir_.path());
  ASSERT_TRUE(l);
  EXPECT_TRUE(l->opened_from_snapshot());
  EXPECT_EQ(l->size(), committed);
  EXPECT_GT(l->recovered_tail_bytes(), 0u);
  l.reset();
  auto report = Verify(dir_.path());
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok) << report->problem;
}

TEST_F(SnapshotTest, TranchesAndSlashesSurviveASnapshot) {
  const PublicKey agent = cast_.agents[0].public_key();
  const TaskReceipt faulty = test::MakeSignedReceipt(cast_.id, "job-1", "t1", cast_.agents[0],
                                                     cast_.ledger, 1'000'000'000'000'000ULL, 1, 0);
  const auto slash = [&](std::string id) {
    return Signed(cast_.id,
                  MakeSlash(std::move(id), faulty, MicroPlume(60),
                            {{LegKind::kClawback, cast_.team(0), MicroPlume(10)},
                             {LegKind::kTreasury, "treasury", MicroPlume(50)}},
                            "snapshot"),
                  cast_.ledger);
  };
  {
    auto l = OpenAt(dir_.path());  // snapshots every 4 entries
    ASSERT_TRUE(l);
    test::AppendCodes(*l, test::Genesis(cast_, MicroPlume(1000)));
    const std::vector<Entry> stake_ops = {
        Signed(cast_.id, MakeMint("m", cast_.provider(0), MicroPlume(100)), cast_.operator_id),
        Signed(cast_.id, MakeStake("s", agent, MicroPlume(100)), cast_.agents[0]),
        Signed(cast_.id, MakeUnstake("u1", agent, MicroPlume(30), 1000), cast_.agents[0],
               cast_.ledger),
        Signed(cast_.id, MakeUnstake("u2", agent, MicroPlume(40), 2000), cast_.agents[0],
               cast_.ledger),
        slash("x1"),  // 30 staked, then 30 of u2
    };
    for (Code c : test::AppendCodes(*l, stake_ops)) EXPECT_EQ(c, Code::kOk);
    EXPECT_EQ(l->Balance(UnbondAccount(agent)), MicroPlume(40));
  }
  auto l = OpenAt(dir_.path());
  ASSERT_TRUE(l);
  ASSERT_TRUE(l->opened_from_snapshot());
  ExpectSameAsFullReplay(*l);
  const std::vector<Tranche> want = {{"u1", MicroPlume(30), 1000}, {"u2", MicroPlume(10), 2000}};
  EXPECT_EQ(l->Unbonding(agent), want);
  EXPECT_TRUE(l->Slashed("job-1", "t1"));
  EXPECT_EQ(l->Withdrawable(agent, 1500), MicroPlume(30));
  // The snapshot's state goes on by the rules: the fault stays slashed, tranches withdraw.
  EXPECT_EQ(test::AppendCodes(*l, {slash("x1-again")}), std::vector<Code>{Code::kDuplicateSlash});
  EXPECT_EQ(test::AppendCodes(*l, {Signed(cast_.id, MakeWithdraw("w", agent, MicroPlume(30), 1500),
                                          cast_.ledger)}),
            std::vector<Code>{Code::kOk});
  EXPECT_TRUE(l->CheckInvariants().has_value());
  l.reset();
  auto report = Verify(dir_.path());
  ASSERT_TRUE(report.has_value());
  EXPECT_TRUE(report->ok) << report->problem;
  EXPECT_EQ(report->balances.at(UnbondAccount(agent)), MicroPlume(10));
}

}  // namespace
}  // namespace plume::ledger
