// Result uploads are bounded by what the task can produce (security review F6): an agent holding
// an assigned task uploads outside its daily quota only its task's one result blob, up to that
// task's result bound (the screens' size bound; here an inference shard's, from its prompts and
// max_new_tokens). The agent's own quota is used up first, so whatever passes does so on the
// task's allowance alone: a blob larger than the bound is refused, the real output is taken, and
// a second blob is refused even when bytes of the bound are left (a hostile agent would
// otherwise make one blob, one file and one uploader row, per byte of the bound).
#include <gtest/gtest.h>

#include "plume/protocol/blob_service.h"
#include "plume/verify/screen.h"
#include "reactor_test_util.h"

namespace plume::scheduler {
namespace {

using namespace std::chrono_literals;

class ResultUploadTest : public ReactorFixture {
 protected:
  void SetUp() override {
    MakeDir("plume-result-upload-");
    ReactorOptions o;
    o.state_dir = dir_ / "sched";
    o.sync = Sync::kNormal;
    o.core.lease_ms = 60'000;
    o.upload_quota_bytes_per_day = TinyCheckpoint().size() + 1000;  // the team's upload fits
    StartReactor(o);
  }
};

TEST_F(ResultUploadTest, AnAgentUploadsOnlyWhatItsTaskCanProduce) {
  if (HasFatalFailure()) return;
  Identity agent_id = Identity::Generate(), client_id = Identity::Generate();
  auto agent = Connect(agent_id), agent_bulk = Connect(agent_id), client = Connect(client_id);
  auto agent_store = *BlobStore::Open(dir_ / "agent-blobs");
  auto client_store = *BlobStore::Open(dir_ / "client-blobs");
  int junk = 0;
  auto push_junk = [&](uint64_t bytes) {
    const Hash256 h = *agent_store->Put(std::string(bytes, static_cast<char>('a' + junk++)));
    return PushBlob(*agent_bulk, *agent_store, h, 5s);
  };
  // The agent spends its whole quota before it holds a task.
  ASSERT_TRUE(push_junk(TinyCheckpoint().size() + 1000));
  EXPECT_FALSE(push_junk(10));
  RegisterCpuAgent(*agent);
  if (HasFatalFailure()) return;
  const std::vector<uint8_t> ckpt = TinyCheckpoint();
  const Hash256 ckpt_hash = *client_store->Put(std::span<const uint8_t>(ckpt));
  ASSERT_TRUE(PushBlob(*client, *client_store, ckpt_hash, 5s));
  std::string spec = kSpec;
  spec.replace(spec.find("workers = 2"), 11, "workers = 1");  // one shard: one allowance
  auto sub = client->NewRequest();
  FillInferSubmit(sub, client_id, spec, "k1", ckpt_hash, ckpt.size());
  ASSERT_EQ(Call(*client, sub).kind(), MessageKind::SUBMIT_ACK);
  auto m = agent->Recv(10s);
  ASSERT_TRUE(m && m->has_value()) << "no task assignment";
  auto a = (*m)->body().getTaskAssign();
  verify::InferScreen screen;
  for (auto p : a.getParams().getInfer().getPrompts()) screen.prompts.push_back(p.cStr());
  screen.max_new_tokens = a.getParams().getInfer().getMaxNewTokens();
  const uint64_t bound = verify::MaxInferShardBytes(screen);
  const std::string out = ShardOutput(a);
  ASSERT_GT(bound, out.size());

  auto too_big = push_junk(bound + 1);
  ASSERT_FALSE(too_big);
  EXPECT_NE(too_big.error().message.find("refused"), std::string::npos) << too_big.error().message;
  const Hash256 out_hash = *agent_store->Put(out);
  ASSERT_TRUE(PushBlob(*agent_bulk, *agent_store, out_hash, 5s));
  ASSERT_GT(bound - out.size(), 16u);  // bytes are left in the allowance...
  for (int i = 0; i < 16; ++i) {
    EXPECT_FALSE(push_junk(1)) << "tiny blob " << i << " was taken";  // ...but no second blob
  }
  EXPECT_FALSE(push_junk(bound - out.size()));
  // The result itself is still accepted.
  auto res = agent->NewRequest();
  FillTaskResult(res, agent_id, reactor_->core().state().jobs.begin()->first, a, ckpt_hash,
                 out_hash);
  EXPECT_TRUE(Call(*agent_bulk, res).body().getTaskResultAck().getAccepted());
}

}  // namespace
}  // namespace plume::scheduler
