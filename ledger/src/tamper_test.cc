// Tampering: a changed byte anywhere in a record (with or without a recomputed checksum), a
// dropped record or two swapped records make Verify fail and name the first bad entry.
#include <gtest/gtest.h>

#include "plume/ledger/log.h"
#include "plume/ledger/verify.h"
#include "test_util.h"

namespace plume::ledger {
namespace {

using test::Cast;
using test::Signed;

struct Rec {
  uint64_t offset;
  uint64_t end;
  bool head;
  uint64_t entries_before;  // also the index of this record's entry when it is an entry
};

class TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l =
        Ledger::Open(dir_.path(), cast_.ledger, cast_.operator_id.public_key(), cast_.options());
    ASSERT_TRUE(l.has_value());
    test::AppendCodes(**l, test::Genesis(cast_, MicroPlume(5'000'000)));
    test::AppendCodes(
        **l, {Signed(cast_.id, MakeEscrowHold("hold", cast_.team(0), "job", MicroPlume(1'000'000)),
                     cast_.teams[0]),
              Signed(cast_.id, MakeTransfer("t", cast_.team(1), cast_.team(0), MicroPlume(7)),
                     cast_.teams[1])});
    const TaskReceipt r =
        test::MakeSignedReceipt(cast_.id, "job", "task-0", cast_.agents[0], cast_.ledger,
                                1'000'000'000'000'000ULL, 1000, 100);
    test::AppendCodes(
        **l, {Signed(cast_.id, MakeSettle("settle", r), cast_.ledger),
              Signed(cast_.id, MakeRelease("release", "job", cast_.team(0)), cast_.ledger)});
    log_ = dir_.path() / "ledger.log";
    original_ = test::ReadFile(log_);
    auto reader = LogReader::Open(log_);
    ASSERT_TRUE(reader.has_value());
    uint64_t entries = 0;
    while ((*reader)->ReadNext() == LogReader::Next::kRecord) {
      const bool head = (*reader)->payload()[0] == 2;
      records_.push_back(Rec{(*reader)->offset(), (*reader)->end_offset(), head, entries});
      if (!head) ++entries;
    }
    auto report = Verify(dir_.path());
    ASSERT_TRUE(report.has_value() && report->ok);
  }
  // Verify `bytes` as the log and return the report.
  VerifyReport VerifyBytes(const std::vector<uint8_t>& bytes) {
    test::WriteFile(copy_.path() / "ledger.log", bytes);
    auto report = Verify(copy_.path());
    EXPECT_TRUE(report.has_value());
    return report ? *report : VerifyReport{};
  }
  // The records to attack: the transfer, the settle (which carries a receipt), the release
  // (entries 7, 8, 9) and the last head.
  std::vector<size_t> Targets() const {
    std::vector<size_t> out;
    for (size_t i = 0; i < records_.size(); ++i) {
      if ((!records_[i].head && records_[i].entries_before >= 7) || i == records_.size() - 1) {
        out.push_back(i);
      }
    }
    return out;
  }

  Cast cast_;
  test::TempDir dir_;
  test::TempDir copy_;
  std::filesystem::path log_;
  std::vector<uint8_t> original_;
  std::vector<Rec> records_;
};

TEST_F(TamperTest, AnyFlippedByteIsFoundAtItsRecord) {
  ASSERT_EQ(Targets().size(), 4u);
  for (size_t t : Targets()) {
    const Rec& rec = records_[t];
    for (uint64_t at = rec.offset; at < rec.end; ++at) {
      std::vector<uint8_t> bytes = original_;
      bytes[at] ^= 0x01;
      const VerifyReport report = VerifyBytes(bytes);
      ASSERT_FALSE(report.ok) << "byte " << at;
      EXPECT_EQ(report.first_bad_entry, rec.entries_before)
          << "byte " << at << ": " << report.problem;
    }
  }
}

// The attacker also recomputes the checksum, so only the hash chain, the signatures and the
// signed heads stand in the way. Every byte of every entry is under some signature.
TEST_F(TamperTest, FlippedByteWithRecomputedChecksumIsFoundAtItsRecord) {
  for (size_t t : Targets()) {
    const Rec& rec = records_[t];
    for (uint64_t at = rec.offset + kRecordFrameBytes; at < rec.end; ++at) {
      std::vector<uint8_t> bytes = original_;
      bytes[at] ^= 0x80;
      const std::span<const uint8_t> payload(bytes.data() + rec.offset + kRecordFrameBytes,
                                             rec.end - rec.offset - kRecordFrameBytes);
      const uint32_t crc = Crc32c(payload);
      for (int i = 0; i < 4; ++i) bytes[rec.offset + 4 + i] = static_cast<uint8_t>(crc >> (8 * i));
      const VerifyReport report = VerifyBytes(bytes);
      ASSERT_FALSE(report.ok) << "byte " << at;
      EXPECT_EQ(report.first_bad_entry, rec.entries_before)
          << "byte " << at << ": " << report.problem;
    }
  }
}

TEST_F(TamperTest, DroppedRecordIsFound) {
  for (size_t t = 0; t < records_.size(); ++t) {
    if (records_[t].head) continue;  // a dropped head leaves a valid (less attested) ledger
    std::vector<uint8_t> bytes(original_.begin(), original_.begin() + records_[t].offset);
    bytes.insert(bytes.end(), original_.begin() + records_[t].end, original_.end());
    const VerifyReport report = VerifyBytes(bytes);
    ASSERT_FALSE(report.ok) << t;
    EXPECT_EQ(report.first_bad_entry, records_[t].entries_before) << report.problem;
  }
}

TEST_F(TamperTest, SwappedRecordsAreFound) {
  for (size_t t = 0; t + 1 < records_.size(); ++t) {
    const Rec& a = records_[t];
    const Rec& b = records_[t + 1];
    std::vector<uint8_t> bytes(original_.begin(), original_.begin() + a.offset);
    bytes.insert(bytes.end(), original_.begin() + b.offset, original_.begin() + b.end);
    bytes.insert(bytes.end(), original_.begin() + a.offset, original_.begin() + a.end);
    bytes.insert(bytes.end(), original_.begin() + b.end, original_.end());
    const VerifyReport report = VerifyBytes(bytes);
    ASSERT_FALSE(report.ok) << t;
    // A head moved behind the next batch's first entry is seen at that head, one entry later.
    const uint64_t expected = a.head && !b.head ? a.entries_before + 1 : a.entries_before;
    EXPECT_EQ(report.first_bad_entry, expected) << report.problem;
  }
}

}  // namespace
}  // namespace plume::ledger
