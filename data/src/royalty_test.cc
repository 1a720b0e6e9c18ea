// Royalty arithmetic: exact on hand-worked cases, rounds down, refuses overflow; settle claims
// round-trip and are refused when out of shape.
#include "plume/data/royalty.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

namespace plume::data {
namespace {

TEST(Royalty, TokensFollowTheSpecAndRoundDown) {
  // 100 steps x batch 8 x 256 tokens = 204,800 tokens read; a third of them from this dataset.
  EXPECT_EQ(TaskTokens(100, 8, 256, 1, 1), 204'800u);
  EXPECT_EQ(TaskTokens(100, 8, 256, 1, 3), 68'266u);  // 68,266.67 rounded down
  EXPECT_EQ(TaskTokens(0, 8, 256, 1, 1), 0u);
  EXPECT_FALSE(TaskTokens(1, 1, 1, 1, 0).has_value());  // no share of nothing
  EXPECT_FALSE(TaskTokens(1, 1, 1, 2, 1).has_value());  // more than all of it
  const uint64_t big = std::numeric_limits<uint64_t>::max();
  EXPECT_FALSE(TaskTokens(big, 2, 1, 1, 1).has_value());
  EXPECT_FALSE(TaskTokens(1ULL << 32, 1ULL << 16, 1ULL << 16, 1, 1).has_value());
  // The share multiply runs in 128 bits: a large count times a large share still divides back.
  EXPECT_EQ(TaskTokens(big, 1, 1, big - 1, big), big - 1);
}

TEST(Royalty, RoyaltyIsTokensTimesRatePerMillionRoundedDown) {
  EXPECT_EQ(RoyaltyFor(204'800, 2'500), 512);      // 204,800 x 2,500 / 1e6 = 512
  EXPECT_EQ(RoyaltyFor(68'266, 2'500), 170);       // 170.665 -> 170
  EXPECT_EQ(RoyaltyFor(399'999, 1), 0);            // under one micro-PLUME
  EXPECT_EQ(RoyaltyFor(1'000'000, 1), 1);
  EXPECT_EQ(RoyaltyFor(0, 1'000'000), 0);
  const uint64_t big = std::numeric_limits<uint64_t>::max();
  EXPECT_FALSE(RoyaltyFor(big, big).has_value());
  EXPECT_FALSE(RoyaltyFor(big, 1'000'000).has_value());  // > int64 max
  EXPECT_EQ(RoyaltyFor(static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), 1'000'000),
            std::numeric_limits<int64_t>::max());
}

TEST(Royalty, ClaimsRoundTripAndRefuseBadShapes) {
  const std::string a(32, 'a'), b(32, 'b');
  const std::vector<RoyaltyClaim> claims{{a, 10}, {b, 20}};
  auto back = DecodeClaims(EncodeClaims(claims));
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(*back, claims);
  EXPECT_FALSE(DecodeClaims(EncodeClaims({})).has_value());
  EXPECT_FALSE(DecodeClaims(EncodeClaims({{a, 10}, {a, 20}})).has_value());  // one per dataset
  EXPECT_FALSE(DecodeClaims(EncodeClaims({{a, 0}})).has_value());
  EXPECT_FALSE(DecodeClaims(EncodeClaims({{"not-an-id", 1}})).has_value());
  std::vector<RoyaltyClaim> nine;
  for (int i = 0; i < 9; ++i) nine.push_back({std::string(31, 'c') + char('0' + i), 1});
  EXPECT_FALSE(DecodeClaims(EncodeClaims(nine)).has_value());
  std::vector<uint8_t> bytes = EncodeClaims(claims);
  for (size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_FALSE(DecodeClaims(std::span(bytes.data(), n)).has_value()) << n;
  }
  bytes.push_back(0);
  EXPECT_FALSE(DecodeClaims(bytes).has_value());
}

}  // namespace
}  // namespace plume::data
