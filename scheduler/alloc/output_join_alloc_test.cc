// The memory of joining an inference job's outputs for `plume fetch` (security review F6): every
// operator new of this binary is counted (counting_alloc.h). JoinOutputs of four 8 MiB shards may
// hold one 1 MiB piece and 256 KiB of bookkeeping at any moment; the join it replaced held every
// shard's bytes joined in one string plus the shard being read (40 MiB here), which the test
// measures on the same shards and shows over the bound. Both must store the same blob; a shard
// damaged on disk is refused and nothing is stored.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "counting_alloc.h"
#include "output_join.h"

namespace plume::scheduler {
namespace {

// The join before it was streamed (reactor_fetch.cc then).
BlobHash WholeJoin(BlobStore& blobs, const std::vector<BlobHash>& shards) {
  std::string joined;
  for (const BlobHash& b : shards) {
    joined += *blobs.Get(*HashFromHex(b));
    if (!joined.empty() && joined.back() != '\n') joined += '\n';
  }
  return ToHex(*blobs.Put(joined));
}

TEST(OutputJoinAlloc, HoldsOnePieceNotTheOutputs) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("plume-join-alloc-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  auto blobs = std::move(*BlobStore::Open(dir));
  std::vector<BlobHash> shards;
  for (int s = 0; s < 4; ++s) {
    std::string jsonl;
    while (jsonl.size() < (8u << 20)) {
      jsonl += "{\"index\": " + std::to_string(jsonl.size()) + ", \"completion\": \"" +
               std::string(200, static_cast<char>('a' + s)) + "\"}\n";
    }
    if (s == 2) jsonl.pop_back();  // a shard without its last newline gets one added
    shards.push_back(ToHex(*blobs->Put(jsonl)));
  }
  shards.push_back(ToHex(*blobs->Put(std::string())));  // an empty shard adds nothing

  PeakCounter streamed_counter;
  auto streamed = JoinOutputs(*blobs, shards);
  const int64_t streamed_peak = streamed_counter.Stop();
  ASSERT_TRUE(streamed) << streamed.error().message;
  PeakCounter whole_counter;
  const BlobHash whole = WholeJoin(*blobs, shards);
  const int64_t whole_peak = whole_counter.Stop();

  const int64_t bound = (1 << 20) + (256 << 10);
  RecordProperty("streamed_peak_bytes", std::to_string(streamed_peak));
  RecordProperty("whole_peak_bytes", std::to_string(whole_peak));
  EXPECT_GT(streamed_peak, 1 << 19);  // the count sees the pieces: the hook works
  EXPECT_LE(streamed_peak, bound);
  EXPECT_GT(whole_peak, bound) << "the old join would pass this bound";
  EXPECT_EQ(*streamed, whole);

  // A byte changed on disk in a shard: refused, and no new blob appears.
  const auto path = blobs->PathOf(*HashFromHex(shards[1]));
  std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  {
    std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(5 << 20);
    f.put('#');
  }
  ASSERT_TRUE(blobs->Remove(*HashFromHex(whole)));
  auto damaged = JoinOutputs(*blobs, shards);
  ASSERT_FALSE(damaged);
  EXPECT_NE(damaged.error().message.find("corrupt"), std::string::npos) << damaged.error().message;
  EXPECT_FALSE(blobs->Has(*HashFromHex(whole)));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace plume::scheduler
