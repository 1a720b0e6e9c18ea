// Blob retention through a real reactor (security review F6, item 6): a blob no job uses goes
// once it is older than the unused window, with its uploader rows (so its uploader can no longer
// name it), while a queued job's checkpoint stays; once that job is cancelled and its window is
// over, its checkpoint goes too, and what was deleted stays deleted across a restart.
#include <gtest/gtest.h>

#include <thread>

#include "plume/protocol/blob_service.h"
#include "reactor_test_util.h"

namespace plume::scheduler {
namespace {

using namespace std::chrono_literals;

class RetentionReactorTest : public ReactorFixture {
 protected:
  void SetUp() override {
    MakeDir("plume-retention-");
    opt_.state_dir = dir_ / "sched";
    opt_.sync = Sync::kNormal;
    opt_.core.lease_ms = 60'000;
    opt_.retention.finished_job_ms = 0;
    // Long enough for an upload and the submit naming it, on a loaded machine.
    opt_.retention.unused_blob_ms = 4'000;
    opt_.retention_sweep_ms = 50;
    StartReactor(opt_);
  }
  bool Stored(const Hash256& h) const {
    const std::string hex = ToHex(h);
    return std::filesystem::exists(opt_.state_dir / "blobs" / hex.substr(0, 2) / hex.substr(2));
  }
  // Awaits the sweep (it runs every 50 ms once the window is over).
  bool AwaitGone(const Hash256& h) const {
    for (auto until = std::chrono::steady_clock::now() + 30s;
         std::chrono::steady_clock::now() < until; std::this_thread::sleep_for(20ms)) {
      if (!Stored(h)) return true;
    }
    return false;
  }
  void Restart() {
    stop_ = true;
    loop_.join();
    reactor_.reset();
    stop_ = false;
    StartReactor(opt_);
  }
  ReactorOptions opt_;
};

TEST_F(RetentionReactorTest, WhatNoJobKeepsIsDeletedWithItsUploadersAndStaysDeleted) {
  if (HasFatalFailure()) return;
  Identity team = Identity::Generate();
  auto client = Connect(team);
  auto store = *BlobStore::Open(dir_ / "client-blobs");
  const std::vector<uint8_t> ckpt = TinyCheckpoint();
  const Hash256 ckpt_hash = *store->Put(std::span<const uint8_t>(ckpt));
  const Hash256 stray = *store->Put(std::string(5000, 's'));
  ASSERT_TRUE(PushBlob(*client, *store, ckpt_hash, 5s));
  ASSERT_TRUE(PushBlob(*client, *store, stray, 5s));
  auto sub = client->NewRequest();
  FillInferSubmit(sub, team, kSpec, "k1", ckpt_hash, ckpt.size());
  const Message ack = Call(*client, sub);
  ASSERT_EQ(ack.kind(), MessageKind::SUBMIT_ACK);
  const std::string job = ack.body().getSubmitAck().getJobId();

  // The stray upload goes when its window is over; the queued job's checkpoint stays.
  ASSERT_TRUE(AwaitGone(stray));
  EXPECT_TRUE(Stored(ckpt_hash));
  // Its uploader can no longer name it.
  auto again = client->NewRequest();
  FillInferSubmit(again, team, kSpec, "k2", stray, 5000);
  EXPECT_EQ(Call(*client, again).kind(), MessageKind::ERROR);

  // Cancelled (finished, with a window of 0): the checkpoint goes too.
  auto cancel = client->NewRequest();
  cancel.body().initCancelJob().setJobId(job);
  ASSERT_EQ(Call(*client, cancel).kind(), MessageKind::CANCEL_JOB_REPLY);
  ASSERT_TRUE(AwaitGone(ckpt_hash));

  Restart();
  if (HasFatalFailure()) return;
  EXPECT_FALSE(Stored(stray));
  EXPECT_FALSE(Stored(ckpt_hash));
  stop_ = true;
  loop_.join();
  EXPECT_FALSE(reactor_->core().state().blob_uploaders.contains(ToHex(stray)));
  EXPECT_FALSE(reactor_->core().state().blob_uploaders.contains(ToHex(ckpt_hash)));
}

// The same with retention at its defaults: nothing of a fresh upload or a queued job goes.
TEST_F(RetentionReactorTest, TheDefaultsKeepFreshUploads) {
  if (HasFatalFailure()) return;
  stop_ = true;
  loop_.join();
  reactor_.reset();
  stop_ = false;
  opt_.retention = RetentionPolicy{};
  StartReactor(opt_);
  if (HasFatalFailure()) return;
  auto client = Connect(Identity::Generate());
  auto store = *BlobStore::Open(dir_ / "client-blobs");
  const Hash256 stray = *store->Put(std::string(5000, 's'));
  ASSERT_TRUE(PushBlob(*client, *store, stray, 5s));
  Restart();  // a restart sweeps at once
  if (HasFatalFailure()) return;
  auto c2 = Connect(Identity::Generate());
  auto ping = c2->NewRequest();
  ping.body().setPing();
  ASSERT_EQ(Call(*c2, ping).kind(), MessageKind::PONG);  // at least one turn (and sweep) ran
  EXPECT_TRUE(Stored(stray));
}

}  // namespace
}  // namespace plume::scheduler
