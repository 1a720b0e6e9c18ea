// The record file on its own: checksum, header, framing, and telling a torn tail (nothing
// whole after the damage) from damage in the middle (whole records after it).
#include "plume/ledger/log.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace plume::ledger {
namespace {

std::vector<uint8_t> Bytes(std::string_view s) { return {s.begin(), s.end()}; }

TEST(Log, Crc32cKnownAnswer) {
  // The CRC-32C check value from the iSCSI specification (RFC 3720 appendix B.4).
  EXPECT_EQ(Crc32c(Bytes("123456789")), 0xe3069283u);
  EXPECT_EQ(Crc32c({}), 0u);
}

TEST(Log, HeaderRoundTripsAndRejectsDamage) {
  LogHeader h{Identity::Generate().public_key(), Identity::Generate().public_key()};
  std::vector<uint8_t> bytes = EncodeLogHeader(h);
  ASSERT_EQ(bytes.size(), kLogHeaderBytes);
  auto back = DecodeLogHeader(bytes);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->ledger, h.ledger);
  EXPECT_EQ(back->operator_key, h.operator_key);
  for (size_t i = 0; i < bytes.size(); ++i) {
    bytes[i] ^= 0x20;
    EXPECT_FALSE(DecodeLogHeader(bytes).has_value()) << i;
    bytes[i] ^= 0x20;
  }
}

TEST(Log, WriterAndReaderAgreeAndTornTailsAreSeen) {
  test::TempDir dir;
  const auto path = dir.path() / "ledger.log";
  const LogHeader header{Identity::Generate().public_key(), Identity::Generate().public_key()};
  {
    auto w = LogWriter::Create(path, header);
    ASSERT_TRUE(w.has_value()) << w.error().message;
    std::vector<uint8_t> batch;
    AppendRecord(Bytes("first"), batch);
    AppendRecord(Bytes("second record"), batch);
    ASSERT_TRUE((*w)->WriteAndSync(batch).has_value());
  }
  const std::vector<uint8_t> whole = test::ReadFile(path);
  ASSERT_EQ(whole.size(), kLogHeaderBytes + 8 + 5 + 8 + 13);
  // Every cut inside the second record reads the first and then reports kBad.
  for (size_t cut = kLogHeaderBytes + 13 + 1; cut < whole.size(); ++cut) {
    test::WriteFile(path, std::vector<uint8_t>(whole.begin(), whole.begin() + cut));
    auto r = LogReader::Open(path);
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ((*r)->ReadNext(), LogReader::Next::kRecord);
    EXPECT_EQ((*r)->payload(), Bytes("first"));
    ASSERT_EQ((*r)->ReadNext(), LogReader::Next::kBad) << cut;
    EXPECT_FALSE((*r)->ValidRecordFollows((*r)->offset(), [](auto) { return true; }));
  }
  // A damaged first record with a whole record after it is not a torn tail.
  std::vector<uint8_t> damaged = whole;
  damaged[kLogHeaderBytes + 9] ^= 1;
  test::WriteFile(path, damaged);
  auto r = LogReader::Open(path);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ((*r)->ReadNext(), LogReader::Next::kBad);
  EXPECT_EQ((*r)->offset(), kLogHeaderBytes);
  EXPECT_TRUE((*r)->ValidRecordFollows((*r)->offset(), [](auto) { return true; }));
}

TEST(Log, DamageIsToldFromATornTailAcrossMegabytes) {
  // 3 MB of records, then one "marker" record the predicate accepts: the scan from damage at
  // the start must slide its window all the way to it.
  test::TempDir dir;
  const auto path = dir.path() / "ledger.log";
  auto w = LogWriter::Create(path, LogHeader{});
  ASSERT_TRUE(w.has_value());
  std::vector<uint8_t> batch;
  for (int i = 0; i < 3000; ++i) AppendRecord(std::vector<uint8_t>(1000, 0x11), batch);
  AppendRecord(std::vector<uint8_t>(40, 0xee), batch);
  ASSERT_TRUE((*w)->WriteAndSync(batch).has_value());
  std::vector<uint8_t> bytes = test::ReadFile(path);
  bytes[kLogHeaderBytes + 20] ^= 1;
  test::WriteFile(path, bytes);
  const auto marker = [](std::span<const uint8_t> p) { return p[0] == 0xee; };
  auto r = LogReader::Open(path);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ((*r)->ReadNext(), LogReader::Next::kBad);
  EXPECT_TRUE((*r)->ValidRecordFollows((*r)->offset(), marker));
  bytes.resize(bytes.size() - 1);  // the marker torn: nothing whole that it accepts follows
  test::WriteFile(path, bytes);
  r = LogReader::Open(path);
  ASSERT_TRUE(r.has_value());
  ASSERT_EQ((*r)->ReadNext(), LogReader::Next::kBad);
  EXPECT_FALSE((*r)->ValidRecordFollows((*r)->offset(), marker));
}

}  // namespace
}  // namespace plume::ledger
