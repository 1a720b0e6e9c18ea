// The blob cache stores by hash, verifies on the way in and out, and evicts the least recently
// used blobs to stay under its byte cap.
#include "plume/agent/blob_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace plume::agent {
namespace {
namespace fs = std::filesystem;

fs::path TestDir() {
  return fs::temp_directory_path() /
         ("plume-blobcache-" + std::to_string(::getpid()) + "-" +
          ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

std::vector<uint8_t> Bytes(size_t n, uint8_t fill) { return std::vector<uint8_t>(n, fill); }

TEST(BlobCacheTest, PutGetRoundTrip) {
  const fs::path dir = TestDir();
  fs::remove_all(dir);
  auto cache = BlobCache::Open(dir, 1 << 20);
  ASSERT_TRUE(cache);
  auto h = cache->Put(Bytes(100, 7));
  ASSERT_TRUE(h);
  EXPECT_EQ(*h, Blake2b256(Bytes(100, 7)));
  auto got = cache->Get(*h);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, Bytes(100, 7));
  fs::remove_all(dir);
}

TEST(BlobCacheTest, RejectsBytesThatDoNotMatchTheirHash) {
  const fs::path dir = TestDir();
  fs::remove_all(dir);
  auto cache = BlobCache::Open(dir, 1 << 20);
  ASSERT_TRUE(cache);
  const Hash256 wrong = Blake2b256(Bytes(10, 1));
  EXPECT_FALSE(cache->PutExpecting(wrong, Bytes(10, 2)));
  EXPECT_FALSE(cache->Contains(wrong));
  fs::remove_all(dir);
}

TEST(BlobCacheTest, CorruptFileIsAMiss) {
  const fs::path dir = TestDir();
  fs::remove_all(dir);
  auto cache = BlobCache::Open(dir, 1 << 20);
  ASSERT_TRUE(cache);
  auto h = cache->Put(Bytes(64, 3));
  ASSERT_TRUE(h);
  std::ofstream(dir / ToHex(*h), std::ios::binary | std::ios::trunc) << "garbage";
  EXPECT_FALSE(cache->Get(*h).has_value());
  EXPECT_FALSE(cache->Contains(*h));
  fs::remove_all(dir);
}

TEST(BlobCacheTest, EvictsLeastRecentlyUsedToFitTheCap) {
  const fs::path dir = TestDir();
  fs::remove_all(dir);
  auto cache = BlobCache::Open(dir, 2500);
  ASSERT_TRUE(cache);
  auto a = cache->Put(Bytes(1000, 1));
  auto b = cache->Put(Bytes(1000, 2));
  ASSERT_TRUE(a && b);
  // Make `a` clearly the most recently used, independent of filesystem timestamp granularity.
  fs::last_write_time(dir / ToHex(*b), fs::file_time_type::clock::now() - std::chrono::hours(1));
  ASSERT_TRUE(cache->Get(*a).has_value());
  auto c = cache->Put(Bytes(1000, 3));
  ASSERT_TRUE(c);
  EXPECT_TRUE(cache->Contains(*a));
  EXPECT_FALSE(cache->Contains(*b));
  EXPECT_TRUE(cache->Contains(*c));
  EXPECT_LE(cache->TotalBytes(), 2500u);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace plume::agent
