// The bounded reads of a spec's blobs (spec_blobs.h) on a real blob store: a checkpoint's config
// comes from its header alone (a copy without its weights gives the same config), a header
// claimed past the bound or past the file is refused unread, and a prompts blob past one
// message's worth is refused before it is parsed.
#include "spec_blobs.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "plume/kernels/checkpoint.h"
#include "plume/scheduler/limits.h"
#include "reactor_test_util.h"

namespace plume::scheduler {
namespace {
namespace fs = std::filesystem;

class SpecBlobsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("plume-spec-blobs-" + std::to_string(getpid()));
    fs::remove_all(dir_);
    store_ = std::move(*BlobStore::Open(dir_));
  }
  void TearDown() override { fs::remove_all(dir_); }
  Hash256 Put(std::string_view bytes) { return *store_->Put(bytes); }
  fs::path dir_;
  std::unique_ptr<BlobStore> store_;
};

TEST_F(SpecBlobsTest, CheckpointConfigComesFromTheHeaderAlone) {
  const std::vector<uint8_t> ckpt = TinyCheckpoint();
  const std::string bytes(ckpt.begin(), ckpt.end());
  auto config = ReadCheckpointConfig(*store_, Put(bytes));
  ASSERT_TRUE(config) << config.error().message;
  EXPECT_EQ(config->n_layer, 1);
  EXPECT_EQ(config->n_head, 2);
  EXPECT_EQ(config->n_embd, 32);
  EXPECT_EQ(config->context, 16);
  EXPECT_EQ(config->vocab, 256);
  // The header without any weights: the same config, so the weights were never needed.
  uint64_t length = 0;
  for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<uint8_t>(bytes[i]);
  const std::string header_only = bytes.substr(0, 8 + length);
  ASSERT_FALSE(kernels::LoadCheckpointBytes(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(header_only.data()), header_only.size())));
  auto again = ReadCheckpointConfig(*store_, Put(header_only));
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->n_embd, 32);
}

TEST_F(SpecBlobsTest, OversizedOrMalformedHeadersAreRefusedUnread) {
  auto with_length = [&](uint64_t length, const std::string& rest) {
    std::string b(8, '\0');
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((length >> (8 * i)) & 0xff);
    return Put(b + rest);
  };
  for (uint64_t claimed : {kCheckpointHeaderBytesMax + 1, uint64_t{1} << 62, uint64_t{100}}) {
    auto st = ReadCheckpointConfig(*store_, with_length(claimed, std::string(50, ' ')));
    ASSERT_FALSE(st) << claimed;
    EXPECT_NE(st.error().message.find("header"), std::string::npos) << st.error().message;
  }
  EXPECT_FALSE(ReadCheckpointConfig(*store_, Put("abc")));
  const std::string no_meta =
      R"({"wte.weight": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})";
  auto st = ReadCheckpointConfig(*store_, with_length(no_meta.size(), no_meta + "xxxx"));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("[model]"), std::string::npos) << st.error().message;
  EXPECT_FALSE(ConfigFromSafetensorsHeader(R"({"__metadata__": {"plume.n_layer": "1x"}})"));
  EXPECT_FALSE(ConfigFromSafetensorsHeader("not json"));
}

TEST_F(SpecBlobsTest, PromptsPastOneMessageAreRefusedBeforeParsing) {
  auto ok = ReadPromptsBlob(*store_, Put(R"(["a", "b"])"));
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(*ok, (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(ReadPromptsBlob(*store_, Put(R"({"a": 1})")));
  std::string big = "[";
  while (big.size() <= kPromptsBlobBytesMax) big += "\"aaaaaaaaaaaaaaaa\",";
  big += "\"a\"]";
  auto refused = ReadPromptsBlob(*store_, Put(big));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("split the job"), std::string::npos);
}

}  // namespace
}  // namespace plume::scheduler
