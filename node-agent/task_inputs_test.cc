// Input blobs read on the task's thread (task_inputs.h): making the work reads nothing, so the
// agent's loop stays free however large the blobs; running it reads them and gives what the work
// given the bytes directly gives, bit for bit; a blob missing from the store fails the run with
// a clear message, and so does a segment replay past link 0 without its start state.
#include "task_inputs.h"

#include <capnp/message.h>
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "plume/kernels/checkpoint.h"
#include "plume/kernels/gpt.h"
#include "testing/tiny_tasks.h"

namespace plume::agent {
namespace {

using testing::kOneThread;
using testing::Text;
using testing::Tiny;

struct Fixture {
  std::filesystem::path dir =
      std::filesystem::path(::testing::TempDir()) / ("task_inputs_" + std::to_string(::getpid()));
  std::unique_ptr<BlobStore> store;
  Fixture() {
    std::filesystem::remove_all(dir);
    auto s = BlobStore::Open(dir);
    EXPECT_TRUE(s) << s.error().message;
    store = std::move(*s);
  }
  ~Fixture() { std::filesystem::remove_all(dir); }
  Hash256 Put(const std::vector<uint8_t>& bytes) {
    auto h = store->Put(std::span<const uint8_t>(bytes));
    EXPECT_TRUE(h);
    return *h;
  }
};

// The tiny training task without its input bytes: those come from the store.
TrainTask Train() {
  TrainTask t = testing::TinyTrain();
  t.data.clear();
  t.eval.clear();
  return t;
}

Result<TaskOutput> RunWork(const WorkFn& work) {
  std::atomic<bool> stop{false};
  return work([](int64_t, int64_t, double) {}, stop);
}

TEST(TaskInputs, TrainingReadsItsBlobsWhenItRunsAndMatchesTheWorkGivenTheBytes) {
  Fixture f;
  const TrainTask direct_base = testing::TinyTrain();
  const auto& data = direct_base.data;
  const auto& eval = direct_base.eval;
  auto params = kernels::InitialParams(Tiny(), 3);
  ASSERT_TRUE(params);
  auto round = kernels::SaveCheckpointBytes(Tiny(), *params);
  ASSERT_TRUE(round);
  const TrainBlobs blobs{f.Put(*round), f.Put(data), f.Put(eval), std::nullopt};

  TrainTask direct = direct_base;
  direct.round_params = *round;
  auto want = RunWork(MakeTrainWork(direct, kOneThread));
  ASSERT_TRUE(want) << want.error().message;
  auto got =
      RunWork(TrainWorkReadingInputs(f.store.get(), blobs, Train(), std::nullopt, kOneThread));
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->result, want->result);
  EXPECT_EQ(got->loss, want->loss);

  // Without the round parameters' blob the work starts from the seed: another result.
  TrainBlobs from_seed = blobs;
  from_seed.round_params.reset();
  auto seeded =
      RunWork(TrainWorkReadingInputs(f.store.get(), from_seed, Train(), std::nullopt, kOneThread));
  ASSERT_TRUE(seeded) << seeded.error().message;
  EXPECT_NE(seeded->result, want->result);
}

TEST(TaskInputs, MakingTheWorkReadsNothingAndAMissingBlobFailsTheRun) {
  Fixture f;
  Hash256 absent{};
  absent[0] = 1;
  TrainBlobs blobs{std::nullopt, absent, std::nullopt, std::nullopt};
  // Nothing is read here: a blob the store lacks is only found missing when the work runs.
  const WorkFn train =
      TrainWorkReadingInputs(f.store.get(), blobs, Train(), std::nullopt, kOneThread);
  auto out = RunWork(train);
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("data shard blob unreadable"), std::string::npos)
      << out.error().message;

  InferTask t;
  t.model = Tiny();
  t.prompts = {"a"};
  t.max_new_tokens = 2;
  auto infer = RunWork(InferWorkReadingCheckpoint(f.store.get(), absent, t, kOneThread));
  ASSERT_FALSE(infer);
  EXPECT_NE(infer.error().message.find("checkpoint blob unreadable"), std::string::npos)
      << infer.error().message;

  // With the checkpoint in the store, the same task runs.
  auto params = kernels::InitialParams(Tiny(), 4);
  ASSERT_TRUE(params);
  auto ckpt = kernels::SaveCheckpointBytes(Tiny(), *params);
  ASSERT_TRUE(ckpt);
  auto ran = RunWork(InferWorkReadingCheckpoint(f.store.get(), f.Put(*ckpt), t, kOneThread));
  ASSERT_TRUE(ran) << ran.error().message;
  EXPECT_EQ(ran->steps_done, 1);
}

TEST(TaskInputs, ASegmentPastLinkZeroWithoutItsStartStateFailsWhenItRuns) {
  Fixture f;
  capnp::MallocMessageBuilder m;
  auto seg = m.initRoot<wire::SegmentReplay>();
  seg.setLink(2);
  auto shape = SegmentShape(seg.asReader());
  ASSERT_TRUE(shape) << shape.error().message;  // the shape alone needs no blob
  const TrainBlobs blobs{std::nullopt, f.Put(Text(4000)), std::nullopt, std::nullopt};
  auto out = RunWork(TrainWorkReadingInputs(f.store.get(), blobs, Train(), *shape, kOneThread));
  ASSERT_FALSE(out);
  EXPECT_NE(out.error().message.find("without a start state"), std::string::npos)
      << out.error().message;
}

}  // namespace
}  // namespace plume::agent
