// The training-state codec (state_codec.h): a state survives a round trip bit for bit, and every
// malformed byte string (wrong magic, truncated, over-long, a count that does not fit, another
// model's size) is refused before anything is allocated from it.
#include "plume/verify/state_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "plume/verify/dispute.h"

namespace plume::verify {
namespace {

kernels::TrainState Sample(size_t n) {
  kernels::TrainState s;
  for (size_t i = 0; i < n; ++i) {
    s.params.push_back(0.25f * static_cast<float>(i) - 1.0f);
    s.m.push_back(i % 2 ? -0.0f : 1e-30f);
    s.v.push_back(std::nanf(""));
  }
  return s;
}

TEST(StateCodec, RoundTripKeepsEveryBitAndTheStateHash) {
  const kernels::TrainState s = Sample(7);
  auto bytes = EncodeState(s);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->size(), EncodedStateBytes(7));
  auto back = DecodeState(*bytes, 7);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(StateHash(*back), StateHash(s));  // bitwise, NaN payloads and -0.0 included
  EXPECT_EQ(std::memcmp(back->m.data(), s.m.data(), 7 * sizeof(float)), 0);
}

TEST(StateCodec, MalformedBytesAreRefused) {
  auto good = EncodeState(Sample(5));
  ASSERT_TRUE(good);
  auto bad = *good;
  bad[0] = 'X';
  EXPECT_FALSE(DecodeState(bad));
  bad = *good;
  bad.pop_back();
  EXPECT_FALSE(DecodeState(bad));  // truncated
  bad = *good;
  bad.push_back(0);
  EXPECT_FALSE(DecodeState(bad));  // trailing bytes
  bad = *good;
  const uint64_t huge = uint64_t{1} << 62;
  std::memcpy(bad.data() + 4, &huge, sizeof(huge));
  EXPECT_FALSE(DecodeState(bad));  // a count the bytes cannot hold
  EXPECT_FALSE(DecodeState(std::span<const uint8_t>()));
  EXPECT_FALSE(DecodeState(*good, 6));  // another model's size
  EXPECT_TRUE(DecodeState(*good, 5));
  kernels::TrainState uneven = Sample(3);
  uneven.v.pop_back();
  EXPECT_FALSE(EncodeState(uneven));
}

}  // namespace
}  // namespace plume::verify
