// The reactor's commitment check over real CURVE sockets: a result whose commitments are not what
// its signed receipt's commitment root covers is refused like one that failed a screen (reason
// bad_commitments: not accepted, not paid, and the task goes to another provider, never back to
// the one refused); a result whose list matches its root is accepted.
#include <gtest/gtest.h>

#include <optional>

#include "plume/protocol/blob_service.h"
#include "plume/protocol/receipt.h"
#include "reactor_test_util.h"

namespace plume::scheduler {
namespace {

using namespace std::chrono_literals;

class ReactorCommitmentsTest : public ReactorFixture {
 protected:
  void SetUp() override {
    MakeDir("plume-reactor-commit-");
    ReactorOptions o;
    o.state_dir = dir_ / "sched";
    o.sync = Sync::kNormal;
    o.core.lease_ms = 60'000;  // the test sends no heartbeats
    o.core.audits = false;     // no audit runs: only the shards' own assignments arrive
    StartReactor(o);
  }
  // Registers; with `assign`, also waits for the first TaskAssign, which a queued task may send
  // before the RegisterAck (Call would skip it).
  void Register(TransportClient& agent, std::optional<Message>* assign = nullptr) {
    auto reg = agent.NewRequest();
    FillCpuRegister(reg.body().initRegister(), "agent");
    if (assign == nullptr) {
      ASSERT_EQ(Call(agent, reg).kind(), MessageKind::REGISTER_ACK);
      return;
    }
    ASSERT_TRUE(agent.Send(reg));
    for (int i = 0; i < 10 && !assign->has_value(); ++i) {
      auto m = agent.Recv(std::chrono::seconds(2));
      ASSERT_TRUE(m);
      if (*m && (**m).kind() == MessageKind::TASK_ASSIGN) *assign = std::move(**m);
    }
  }
  Message Send(TransportClient& bulk, MessageBuilder& m) {
    Message reply = Call(bulk, m);
    EXPECT_EQ(reply.kind(), MessageKind::TASK_RESULT_ACK);
    return reply;
  }
};

TEST_F(ReactorCommitmentsTest, ACommitmentListTheReceiptDoesNotSignIsRefusedAndTheTaskMovesOn) {
  if (HasFatalFailure()) return;
  Identity a_id = Identity::Generate(), b_id = Identity::Generate();
  Identity client_id = Identity::Generate();
  auto a = Connect(a_id), a_bulk = Connect(a_id), client = Connect(client_id);
  auto store = *BlobStore::Open(dir_ / "agent-blobs");
  auto client_store = *BlobStore::Open(dir_ / "client-blobs");
  Register(*a);
  const std::vector<uint8_t> ckpt = TinyCheckpoint();
  const Hash256 ckpt_hash = *client_store->Put(std::span<const uint8_t>(ckpt));
  ASSERT_TRUE(PushBlob(*client, *client_store, ckpt_hash, 5s));
  auto sub = client->NewRequest();
  auto s = sub.body().initSubmitJob();
  const Hash256 spec_hash = Blake2b256(std::string_view(kSpec));
  s.setSpecToml(kSpec);
  s.setSpecHash(AsData(spec_hash));
  s.setSignature(AsData(client_id.Sign(SpecSigningBytes(spec_hash))));
  s.setClientJobKey("k1");
  auto ref = s.initDataBlobs(1)[0];
  ref.setName("checkpoint");
  ref.setHash(AsData(ckpt_hash));
  ref.setSizeBytes(ckpt.size());
  Message ack = Call(*client, sub);
  ASSERT_EQ(ack.kind(), MessageKind::SUBMIT_ACK);
  const std::string job = ack.body().getSubmitAck().getJobId();

  auto m = a->Recv(10s);
  ASSERT_TRUE(m && m->has_value());
  ASSERT_EQ((*m)->kind(), MessageKind::TASK_ASSIGN);
  auto assign = (*m)->body().getTaskAssign();
  const std::string out = ShardOutput(assign);
  const Hash256 out_hash = *store->Put(out);
  ASSERT_TRUE(PushBlob(*a_bulk, *store, out_hash, 5s));
  std::vector<Hash256> signed_list(2);
  signed_list[0].fill(1);
  signed_list[1].fill(2);
  // Signed over two hashes, sent with the second one changed: the list is not the signed one.
  auto res = a->NewRequest();
  FillTaskResult(res, a_id, job, assign, ckpt_hash, out_hash, signed_list);
  Hash256 changed = signed_list[1];
  changed[0] ^= 1;
  res.body().getTaskResult().getCommitments().set(1, AsData(changed));
  Message no = Send(*a_bulk, res);
  auto refused = no.body().getTaskResultAck();
  EXPECT_FALSE(refused.getAccepted());
  EXPECT_NE(std::string(refused.getMessage()).find("bad_commitments"), std::string::npos)
      << refused.getMessage().cStr();
  EXPECT_EQ(refused.getPaidMicroPlume(), 0);

  // The task is not given back to a; the next provider gets it, and its matching list passes.
  auto b = Connect(b_id), b_bulk = Connect(b_id);
  std::optional<Message> mb;
  Register(*b, &mb);
  ASSERT_TRUE(mb.has_value()) << "no assignment for the second provider";
  auto again = mb->body().getTaskAssign();
  EXPECT_EQ(again.getTaskId(), assign.getTaskId());
  EXPECT_EQ(again.getAttempt(), assign.getAttempt() + 1);
  ASSERT_TRUE(PullBlob(*b_bulk, *store, ckpt_hash, 5s));
  ASSERT_TRUE(PushBlob(*b_bulk, *store, out_hash, 5s));
  auto good = b->NewRequest();
  FillTaskResult(good, b_id, job, again, ckpt_hash, out_hash, signed_list);
  Message yes = Send(*b_bulk, good);
  EXPECT_TRUE(yes.body().getTaskResultAck().getAccepted())
      << yes.body().getTaskResultAck().getMessage().cStr();
}

}  // namespace
}  // namespace plume::scheduler
