#include "upload_quota.h"

#include <gtest/gtest.h>

namespace plume::scheduler {
namespace {

constexpr int64_t kDayMs = 24 * 3'600'000;

TEST(UploadQuota, EachKeyHasItsOwnSlidingWindow) {
  UploadQuota q(1000, kDayMs);
  EXPECT_TRUE(q.Allows("a", 600, 0));
  q.Record("a", 600, 0);
  EXPECT_TRUE(q.Allows("a", 400, 10));   // exactly up to the limit
  EXPECT_FALSE(q.Allows("a", 401, 10));
  EXPECT_TRUE(q.Allows("b", 1000, 10));  // another key is not charged for a's uploads
  EXPECT_FALSE(q.Allows("b", 1001, 10)); // one blob over the whole quota never fits
  q.Record("a", 400, kDayMs / 2);
  EXPECT_EQ(q.Used("a", kDayMs / 2), 1000u);
  EXPECT_FALSE(q.Allows("a", 1, kDayMs - 1));
  // The first upload leaves the window a day after it was made; the second is still in it.
  EXPECT_EQ(q.Used("a", kDayMs), 400u);
  EXPECT_TRUE(q.Allows("a", 600, kDayMs));
  EXPECT_FALSE(q.Allows("a", 601, kDayMs));
  EXPECT_EQ(q.Used("a", 2 * kDayMs), 0u);
}

// Every upload costs at least the minimum charge, so a quota in bytes bounds the number of
// uploads too (1-byte blobs would otherwise make a file and a row per byte of quota).
TEST(UploadQuota, EachUploadIsChargedAtLeastTheMinimum) {
  UploadQuota q(10 * 4096, kDayMs, 4096);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(q.Allows("a", 1, i)) << i;
    q.Record("a", 1, i);
  }
  EXPECT_FALSE(q.Allows("a", 1, 10));
  EXPECT_EQ(q.Used("a", 10), 10u * 4096);
  UploadQuota large(100'000, kDayMs, 4096);  // uploads above the minimum pay their size
  large.Record("b", 60'000, 0);
  EXPECT_EQ(large.Used("b", 1), 60'000u);
  EXPECT_TRUE(large.Allows("b", 40'000, 1));
  EXPECT_FALSE(large.Allows("b", 40'001, 1));
}

TEST(UploadQuota, ZeroMeansNoLimit) {
  UploadQuota q(0, kDayMs);
  q.Record("a", 1ULL << 40, 0);
  EXPECT_TRUE(q.Allows("a", 1ULL << 40, 1));
  EXPECT_EQ(q.Used("a", 1), 0u);
}

}  // namespace
}  // namespace plume::scheduler
