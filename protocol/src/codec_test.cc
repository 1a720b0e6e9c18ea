// The shared codec: the byte layout is pinned (little-endian, u32 length prefixes) because ledger
// ids and signatures hash these bytes; reads past the end, over-long lengths and leftovers fail.
#include "plume/protocol/codec.h"

#include <gtest/gtest.h>

namespace plume::protocol::codec {
namespace {

TEST(Codec, LayoutIsLittleEndianWithLengthPrefixes) {
  std::vector<uint8_t> out;
  PutU8(out, 0xab);
  PutU32(out, 0x01020304);
  PutU64(out, 0x1122334455667788);
  PutString(out, "hi");
  const std::vector<uint8_t> raw = {9, 8};
  PutBytes(out, raw);
  PutRaw(out, raw);
  const std::vector<uint8_t> want = {0xab, 4,    3,    2, 1, 0x88, 0x77, 0x66, 0x55, 0x44, 0x33,
                                     0x22, 0x11, 2,    0, 0, 0,    'h',  'i',  2,    0,    0,
                                     0,    9,    8,    9, 8};
  EXPECT_EQ(out, want);

  Reader r(out);
  EXPECT_EQ(r.U8(), 0xab);
  EXPECT_EQ(r.U32(), 0x01020304u);
  EXPECT_EQ(r.U64(), 0x1122334455667788u);
  EXPECT_EQ(r.String(2), "hi");
  EXPECT_EQ(r.Bytes(2), raw);
  EXPECT_FALSE(r.done());  // the raw pair is still unread
  EXPECT_EQ((r.Raw<2>()), (std::array<uint8_t, 2>{9, 8}));
  EXPECT_TRUE(r.done());
}

TEST(Codec, TruncatedInputFailsAndLaterReadsAreZero) {
  std::vector<uint8_t> out;
  PutU64(out, 42);
  out.pop_back();
  Reader r(out);
  EXPECT_EQ(r.U64(), 0u);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.U8(), 0u);  // a byte is there, but the reader has already failed
  EXPECT_FALSE(r.done());
}

TEST(Codec, LengthOverTheBoundFailsBeforeReading) {
  std::vector<uint8_t> out;
  PutString(out, "hello");
  Reader over(out);
  EXPECT_EQ(over.String(4), "");
  EXPECT_FALSE(over.ok());
  Reader fits(out);
  EXPECT_EQ(fits.String(5), "hello");
  EXPECT_TRUE(fits.done());

  // A length prefix that claims more than the span holds.
  std::vector<uint8_t> lying;
  PutU32(lying, 1000);
  lying.push_back('x');
  Reader r(lying);
  EXPECT_TRUE(r.Bytes(4096).empty());
  EXPECT_FALSE(r.ok());
}

}  // namespace
}  // namespace plume::protocol::codec
