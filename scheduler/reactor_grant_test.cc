// Data-key grants over real CURVE sockets (reactor_grant.cc): a training task on an encrypted
// dataset reaches its agent with a grant that the key service's check accepts for that agent
// and that task only, expiring within the task's deadline, with the owner's key service and
// key; the other agent gets no assignment and no grant. A job on a clear dataset carries none.
#include <gtest/gtest.h>

#include <chrono>

#include "plume/data/grant.h"
#include "plume/data/limits.h"
#include "plume/protocol/blob_service.h"
#include "reactor_test_util.h"

namespace plume::scheduler {
namespace {

using namespace std::chrono_literals;

class ReactorGrantTest : public ReactorFixture {
 protected:
  void SetUp() override {
    MakeDir("plume-reactor-grant-");
    store_ = *BlobStore::Open(dir_ / "client-blobs");
    data_hash_ = *store_->Put(std::string(4096, 'x'));
    for (bool encrypted : {true, false}) {
      data::Terms t;
      t.owner = owner_.public_key();
      t.name = encrypted ? "secret" : "clear";
      t.blob_hash = data_hash_;
      t.bytes = t.tokens = 4096;
      t.encrypted = encrypted;
      if (encrypted) t.key_service = "tcp://127.0.0.1:7700";
      t.any_team = true;
      (encrypted ? secret_ : clear_) = data::DatasetId(t);
      terms_[data::DatasetId(t)] = t;
    }
    ReactorOptions o;
    o.state_dir = dir_ / "sched";
    o.sync = Sync::kNormal;
    o.core.lease_ms = 60'000;
    o.core.audits = false;
    o.ledger_id = ledger_id_;
    o.dataset_of = [this](const std::string& id) -> std::optional<DatasetView> {
      auto it = terms_.find(id);
      if (it == terms_.end()) return std::nullopt;
      return DatasetView{it->second, false};
    };
    StartReactor(o);
  }
  Message Submit(TransportClient& client, const Identity& id, const std::string& dataset) {
    const std::string spec =
        "[job]\nname = \"t\"\nkind = \"train\"\nseed = 1\n[model]\nn_layer = 1\nn_head = 2\n"
        "n_embd = 32\ncontext = 16\nvocab = 256\n[data]\npath = \"data.txt\"\n[train]\nsteps = 1\n"
        "batch = 1\nseq_len = 8\nlr = 1e-3\n[network]\nworkers = 1\nrounds = 1\nlocal_steps = 1\n"
        "round_timeout_s = 60\n[payment]\nmax_price_micro_plume_per_pflop = 1000000000000\n"
        "budget_micro_plume = 1000000000000000\n";
    auto m = client.NewRequest();
    FillSignedSubmit(m, id, spec, dataset, "dataset:" + dataset, data_hash_, 4096);
    return Call(client, m);
  }
  // The next TaskAssign `agent` receives within `wait`, if any.
  static std::optional<Message> NextAssign(TransportClient& agent, std::chrono::milliseconds wait) {
    const auto until = std::chrono::steady_clock::now() + wait;
    while (std::chrono::steady_clock::now() < until) {
      auto m = agent.Recv(200ms);
      if (m && *m && (**m).kind() == MessageKind::TASK_ASSIGN) return std::move(**m);
    }
    return std::nullopt;
  }

  Identity owner_ = Identity::Generate();
  Hash256 ledger_id_ = Blake2b256(std::string_view("grant-test ledger"));
  std::unique_ptr<BlobStore> store_;
  Hash256 data_hash_{};
  std::map<std::string, data::Terms> terms_;
  std::string secret_, clear_;
};

TEST_F(ReactorGrantTest, OnlyTheAssignedAgentGetsAGrantAndItHoldsForItsTaskOnly) {
  if (HasFatalFailure()) return;
  Identity a_id = Identity::Generate(), b_id = Identity::Generate(), client_id = Identity::Generate();
  auto a = Connect(a_id), b = Connect(b_id), client = Connect(client_id);
  RegisterCpuAgent(*a);
  RegisterCpuAgent(*b);
  ASSERT_TRUE(PushBlob(*client, *store_, data_hash_, 5s));
  Message ack = Submit(*client, client_id, secret_);
  ASSERT_EQ(ack.kind(), MessageKind::SUBMIT_ACK)
      << (ack.kind() == MessageKind::ERROR ? ack.body().getError().getMessage().cStr() : "");
  const std::string job = ack.body().getSubmitAck().getJobId();

  auto from_a = NextAssign(*a, 3s);
  auto from_b = NextAssign(*b, from_a ? 1s : 3s);
  ASSERT_NE(from_a.has_value(), from_b.has_value()) << "one worker: exactly one assignment";
  const Message& m = from_a ? *from_a : *from_b;
  const Identity& holder = from_a ? a_id : b_id;
  const Identity& other = from_a ? b_id : a_id;
  auto t = m.body().getTaskAssign();
  ASSERT_TRUE(t.hasDataKey());
  auto k = t.getDataKey();
  EXPECT_EQ(std::string(k.getKeyService().cStr()), "tcp://127.0.0.1:7700");
  EXPECT_EQ(*PublicKeyFromData(k.getOwner()), owner_.public_key());
  auto bytes = k.getGrant();
  auto grant = data::DecodeGrant(std::span(bytes.begin(), bytes.size()));
  ASSERT_TRUE(grant) << grant.error().message;
  EXPECT_EQ(grant->dataset, secret_);
  EXPECT_EQ(grant->job, job);
  EXPECT_EQ(grant->task, std::to_string(t.getTaskId()));
  EXPECT_EQ(grant->attempt, t.getAttempt());
  EXPECT_LE(grant->expires_unix_ms - grant->issued_unix_ms, t.getDeadlineMs());
  EXPECT_LE(grant->expires_unix_ms - grant->issued_unix_ms, data::kGrantLifetimeMsMax);

  // What the owner's key service checks: good for the holder and this task, nobody else.
  const PublicKey sched = scheduler_.public_key();
  const uint64_t now = grant->issued_unix_ms + 1;
  const std::string task = grant->task;
  EXPECT_EQ(data::CheckGrant(*grant, ledger_id_, sched,
                             {secret_, job, task, holder.public_key(), now}),
            data::GrantCheck::kOk);
  EXPECT_EQ(data::CheckGrant(*grant, ledger_id_, sched, {secret_, job, task, other.public_key(), now}),
            data::GrantCheck::kWrongAgent);
  EXPECT_EQ(data::CheckGrant(*grant, ledger_id_, sched, {secret_, job, task + "0", holder.public_key(), now}),
            data::GrantCheck::kWrongTask);
  EXPECT_EQ(data::CheckGrant(*grant, Blake2b256(std::string_view("other")), sched,
                             {secret_, job, task, holder.public_key(), now}),
            data::GrantCheck::kBadSignature);
  EXPECT_EQ(data::CheckGrant(*grant, ledger_id_, sched,
                             {secret_, job, task, holder.public_key(), grant->expires_unix_ms}),
            data::GrantCheck::kExpired);

  // A job on the clear copy: its assignment (to whichever agent is free) carries no grant.
  Message clear_ack = Submit(*client, client_id, clear_);
  ASSERT_EQ(clear_ack.kind(), MessageKind::SUBMIT_ACK);
  auto next = NextAssign(from_a ? *b : *a, 5s);
  ASSERT_TRUE(next);
  EXPECT_FALSE(next->body().getTaskAssign().hasDataKey());
}

}  // namespace
}  // namespace plume::scheduler
