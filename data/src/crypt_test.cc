// Dataset encryption: round trips at chunk boundaries, the ciphertext holds no plaintext, and a
// wrong key, a flipped bit, a cut, reordered chunks or extra bytes never decrypt. Sealed keys
// open only for the agent they were sealed to. Key files refuse loose permissions.
#include "plume/data/crypt.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>

#include "plume/data/limits.h"
#include "plume/protocol/file_util.h"

namespace plume::data {
namespace {

std::vector<uint8_t> Plain(size_t n) {
  std::vector<uint8_t> out(n);
  const std::string marker = "PLAINTEXT-MARKER ";
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(marker[i % marker.size()]);
  return out;
}

bool Contains(const std::vector<uint8_t>& hay, std::string_view needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

TEST(Crypt, RoundTripsAtChunkBoundariesWithoutPlaintext) {
  const DataKey key = NewDataKey();
  for (size_t n : {size_t{0}, size_t{1}, kCryptChunkBytes - 1, kCryptChunkBytes,
                   kCryptChunkBytes + 1, 3 * kCryptChunkBytes}) {
    const std::vector<uint8_t> plain = Plain(n);
    const std::vector<uint8_t> sealed = Encrypt(plain, key);
    EXPECT_EQ(sealed.size(), CiphertextBytes(n)) << n;
    if (n > 0) {
      EXPECT_FALSE(Contains(sealed, "PLAINTEXT-MARKER")) << n;
    }
    auto back = Decrypt(sealed, key);
    ASSERT_TRUE(back.has_value()) << n << ": " << back.error().message;
    EXPECT_EQ(*back, plain);
  }
}

TEST(Crypt, DamagedCiphertextOrWrongKeyNeverDecrypts) {
  const DataKey key = NewDataKey();
  const std::vector<uint8_t> sealed = Encrypt(Plain(2 * kCryptChunkBytes + 10), key);
  EXPECT_FALSE(Decrypt(sealed, NewDataKey()).has_value());
  for (size_t at : {size_t{0}, size_t{9}, size_t{40}, sealed.size() / 2, sealed.size() - 1}) {
    std::vector<uint8_t> flipped = sealed;
    flipped[at] ^= 1;
    EXPECT_FALSE(Decrypt(flipped, key).has_value()) << at;
  }
  // Cut at a chunk boundary: every chunk before authenticates, but the final tag is missing.
  const size_t first_chunk_end = 8 + 24 + kCryptChunkBytes + 17;
  EXPECT_FALSE(Decrypt(std::span(sealed.data(), first_chunk_end), key).has_value());
  EXPECT_FALSE(Decrypt(std::span(sealed.data(), sealed.size() - 1), key).has_value());
  std::vector<uint8_t> longer = sealed;
  longer.push_back(0);
  EXPECT_FALSE(Decrypt(longer, key).has_value());
  // Swap the first two chunks.
  std::vector<uint8_t> swapped = sealed;
  std::swap_ranges(swapped.begin() + 32, swapped.begin() + static_cast<long>(first_chunk_end),
                   swapped.begin() + static_cast<long>(first_chunk_end));
  EXPECT_FALSE(Decrypt(swapped, key).has_value());
}

TEST(Crypt, FileEncryptionMatchesMemoryFormat) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("plume-crypt-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::vector<uint8_t> plain = Plain(kCryptChunkBytes * 2 + 77);
  ASSERT_TRUE(WriteFileSynced(dir / "in", plain).has_value());
  const DataKey key = NewDataKey();
  ASSERT_TRUE(EncryptFile(dir / "in", dir / "out", key).has_value());
  auto sealed = ReadFileBytes(dir / "out");
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(sealed->size(), CiphertextBytes(plain.size()));
  EXPECT_FALSE(Contains(*sealed, "PLAINTEXT-MARKER"));
  EXPECT_EQ(Decrypt(*sealed, key).value(), plain);
  EXPECT_FALSE(std::filesystem::exists(dir / "out.tmp"));
  EXPECT_FALSE(EncryptFile(dir / "missing", dir / "out2", key).has_value());
  EXPECT_FALSE(std::filesystem::exists(dir / "out2"));
  std::filesystem::remove_all(dir);
}

TEST(Crypt, SealedKeyOpensOnlyForItsAgent) {
  const Identity agent = Identity::Generate();
  const DataKey key = NewDataKey();
  auto sealed = SealDataKey(key, agent.public_key());
  ASSERT_TRUE(sealed.has_value());
  EXPECT_EQ(OpenDataKey(*sealed, agent).value(), key);
  EXPECT_FALSE(OpenDataKey(*sealed, Identity::Generate()).has_value());
  std::vector<uint8_t> flipped = *sealed;
  flipped[5] ^= 1;
  EXPECT_FALSE(OpenDataKey(flipped, agent).has_value());
  EXPECT_FALSE(OpenDataKey(std::span(sealed->data(), sealed->size() - 1), agent).has_value());
  PublicKey not_a_point{};
  not_a_point.fill(0xff);
  EXPECT_FALSE(SealDataKey(key, not_a_point).has_value());
}

TEST(Crypt, KeyFilesAreOwnerOnlyAndNeverOverwritten) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("plume-key-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const DataKey key = NewDataKey();
  ASSERT_TRUE(SaveDataKey(dir / "k", key).has_value());
  EXPECT_FALSE(SaveDataKey(dir / "k", NewDataKey()).has_value());
  EXPECT_EQ(LoadDataKey(dir / "k").value(), key);
  ::chmod((dir / "k").c_str(), 0644);
  EXPECT_FALSE(LoadDataKey(dir / "k").has_value());
  std::ofstream(dir / "bad") << "plume-data-key-v1\nzz\n";
  ::chmod((dir / "bad").c_str(), 0600);
  EXPECT_FALSE(LoadDataKey(dir / "bad").has_value());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plume::data
