// Heavy work runs off the reactor thread: a train submit's initial parameters, an infer quote's
// or submit's BPE prompt count and the join of an inference job's outputs are made on the
// offload worker while the reactor keeps answering. Each test holds the worker at a gate (ReactorOptions::
// before_offloaded_work), shows a ping answered meanwhile, then opens the gate and checks the
// held request is answered as before; a retried submit waits for the first one's work, and a
// second fetch is answered from the joined blob without any new work.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>

#include "bpe_test_util.h"
#include "plume/kernels/bpe.h"
#include "plume/kernels/checkpoint.h"
#include "plume/kernels/flops.h"
#include "plume/kernels/gpt.h"
#include "plume/protocol/blob_service.h"
#include "reactor_offload.h"
#include "reactor_test_util.h"

namespace plume::scheduler {
namespace {

using namespace std::chrono_literals;

class OffloadReactorTest : public ReactorFixture {
 protected:
  void SetUp() override {
    MakeDir("plume-offload-");
    ReactorOptions o;
    o.state_dir = dir_ / "sched";
    o.sync = Sync::kNormal;
    o.core.lease_ms = 60'000;
    o.before_offloaded_work = [this] { gate_.Pass(); };
    StartReactor(o);
  }
  void TearDown() override {
    gate_.Open();
    ReactorFixture::TearDown();
  }
  // The reactor answers a ping while the worker is held.
  void ExpectPingAnswered() {
    auto c = Connect(Identity::Generate());
    auto ping = c->NewRequest();
    ping.body().setPing();
    auto pong = c->Call(ping, 10s);
    ASSERT_TRUE(pong) << "the reactor did not answer while the offloaded work was held";
    EXPECT_EQ(pong->kind(), MessageKind::PONG);
  }
  // Waits for the reply to request `rid` on `c`.
  Message ReplyTo(TransportClient& c, uint64_t rid) {
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < until) {
      auto m = c.Recv(1s);
      if (m && m->has_value() && (*m)->request_id() == rid) return std::move(**m);
    }
    ADD_FAILURE() << "no reply to request " << rid;
    return *Decode(EncodeError(rid, scheduler_.public_key(), wire::ErrorCode::INTERNAL, "none"));
  }
  void WaitForGate(int passed) {
    for (int i = 0; i < 300 && gate_.passed() < passed; ++i) std::this_thread::sleep_for(100ms);
    ASSERT_EQ(gate_.passed(), passed) << "the offloaded work never started";
  }

  Gate gate_;
};

TEST_F(OffloadReactorTest, TrainSubmitBuildsItsModelOffTheReactorThread) {
  if (HasFatalFailure()) return;
  Identity client_id = Identity::Generate();
  auto client = Connect(client_id);
  auto client_store = *BlobStore::Open(dir_ / "client-blobs");
  const Hash256 data_hash = *client_store->Put(std::string(4096, 'x'));
  ASSERT_TRUE(PushBlob(*client, *client_store, data_hash, 5s));
  const std::string spec =
      "[job]\nname = \"t\"\nkind = \"train\"\nseed = 1\n[model]\nn_layer = 1\nn_head = 2\n"
      "n_embd = 32\ncontext = 16\nvocab = 256\n[data]\npath = \"data.txt\"\n[train]\nsteps = 1\n"
      "batch = 1\nseq_len = 8\nlr = 1e-3\n[network]\nworkers = 1\nrounds = 1\nlocal_steps = 1\n"
      "[payment]\nmax_price_micro_plume_per_pflop = 1000000000000\n"
      "budget_micro_plume = 1000000000000000\n";
  auto submit = [&] {
    auto m = client->NewRequest();
    auto s = m.body().initSubmitJob();
    const Hash256 spec_hash = Blake2b256(spec);
    s.setSpecToml(spec);
    s.setSpecHash(AsData(spec_hash));
    s.setSignature(AsData(client_id.Sign(SpecSigningBytes(spec_hash))));
    s.setClientJobKey("gated");
    auto ref = s.initDataBlobs(1)[0];
    ref.setName("data");
    ref.setHash(AsData(data_hash));
    ref.setSizeBytes(4096);
    EXPECT_TRUE(client->Send(m));
    return m.request_id();
  };
  const uint64_t first = submit();
  WaitForGate(1);
  ExpectPingAnswered();
  EXPECT_NE(gate_.threads().at(0), loop_.get_id());
  EXPECT_TRUE(reactor_->core().state().jobs.empty());  // not taken before its model exists
  const uint64_t retry = submit();  // a retry while the model is built waits for the same work
  // One connection's messages are handled in order: once this ping is answered, so was the retry.
  auto ping = client->NewRequest();
  ping.body().setPing();
  ASSERT_TRUE(client->Send(ping));
  EXPECT_EQ(ReplyTo(*client, ping.request_id()).kind(), MessageKind::PONG);
  gate_.Open();
  Message a = ReplyTo(*client, first);
  Message b = ReplyTo(*client, retry);
  ASSERT_EQ(a.kind(), MessageKind::SUBMIT_ACK) << KindName(a.kind());
  ASSERT_EQ(b.kind(), MessageKind::SUBMIT_ACK) << KindName(b.kind());
  EXPECT_EQ(std::string(a.body().getSubmitAck().getJobId()),
            std::string(b.body().getSubmitAck().getJobId()));
  EXPECT_EQ(gate_.passed(), 1);  // one initialisation for both
}

TEST_F(OffloadReactorTest, FetchJoinsOutputsOnceOffTheReactorThread) {
  if (HasFatalFailure()) return;
  Identity agent_id = Identity::Generate(), client_id = Identity::Generate();
  auto agent = Connect(agent_id), agent_bulk = Connect(agent_id), client = Connect(client_id);
  auto agent_store = *BlobStore::Open(dir_ / "agent-blobs");
  auto client_store = *BlobStore::Open(dir_ / "client-blobs");
  RegisterCpuAgent(*agent);
  if (HasFatalFailure()) return;
  const std::vector<uint8_t> ckpt = TinyCheckpoint();
  const Hash256 ckpt_hash = *client_store->Put(std::span<const uint8_t>(ckpt));
  ASSERT_TRUE(PushBlob(*client, *client_store, ckpt_hash, 5s));
  auto sub = client->NewRequest();
  FillInferSubmit(sub, client_id, kSpec, "k1", ckpt_hash, ckpt.size());
  Message ack = Call(*client, sub);
  ASSERT_EQ(ack.kind(), MessageKind::SUBMIT_ACK) << KindName(ack.kind());
  const std::string job = ack.body().getSubmitAck().getJobId();
  std::string joined;
  for (int shard = 0; shard < 2; ++shard) {
    auto m = agent->Recv(10s);
    ASSERT_TRUE(m && m->has_value()) << "no task assignment for shard " << shard;
    auto a = (*m)->body().getTaskAssign();
    const std::string out = ShardOutput(a);
    joined += out;
    const Hash256 out_hash = *agent_store->Put(out);
    ASSERT_TRUE(PushBlob(*agent_bulk, *agent_store, out_hash, 5s));
    auto res = agent->NewRequest();
    FillTaskResult(res, agent_id, job, a, ckpt_hash, out_hash);
    ASSERT_TRUE(Call(*agent_bulk, res).body().getTaskResultAck().getAccepted());
  }
  ASSERT_EQ(gate_.passed(), 0);  // an inference submit initialises nothing

  auto fetch = client->NewRequest();
  fetch.body().initFetchJob().setJobId(job);
  ASSERT_TRUE(client->Send(fetch));
  WaitForGate(1);
  ExpectPingAnswered();
  EXPECT_NE(gate_.threads().at(0), loop_.get_id());
  gate_.Open();
  Message fetched = ReplyTo(*client, fetch.request_id());
  ASSERT_EQ(fetched.kind(), MessageKind::FETCH_JOB_REPLY) << KindName(fetched.kind());
  auto outputs = fetched.body().getFetchJobReply().getOutputs();
  ASSERT_EQ(outputs.size(), 1u);
  const Hash256 joined_hash = *HashFromData(outputs[0].getHash());
  ASSERT_TRUE(PullBlob(*client, *client_store, joined_hash, 5s));
  EXPECT_EQ(*client_store->Get(joined_hash), joined);
  // Again: the same blob, answered without joining again.
  auto again = client->NewRequest();
  again.body().initFetchJob().setJobId(job);
  Message second = Call(*client, again);
  ASSERT_EQ(second.kind(), MessageKind::FETCH_JOB_REPLY);
  EXPECT_EQ(*HashFromData(second.body().getFetchJobReply().getOutputs()[0].getHash()), joined_hash);
  EXPECT_EQ(gate_.passed(), 1);
}


// The core's work (a round's outer step) runs before client work queued ahead of it: while the
// worker is held on a client's piece, two more client pieces and then a core piece are queued;
// the core piece runs next. Without the priority a flood of quotes would hold a round back.
TEST(OffloadTest, CoreWorkRunsBeforeQueuedClientWork) {
  Gate gate;
  std::mutex mu;
  std::vector<std::string> order;
  Offload offload([&] {
    if (gate.passed() == 0) gate.Pass();  // only the first piece is held
  });
  auto piece = [&](std::string name) {
    return [&, name]() -> Offload::Continuation {
      std::lock_guard lock(mu);
      order.push_back(name);
      return [] {};
    };
  };
  ASSERT_TRUE(offload.Submit(piece("client-1"), /*from_client=*/true));
  for (int i = 0; i < 300 && gate.passed() == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(gate.passed(), 1);
  ASSERT_TRUE(offload.Submit(piece("client-2"), true));
  ASSERT_TRUE(offload.Submit(piece("client-3"), true));
  ASSERT_TRUE(offload.Submit(piece("core-1"), /*from_client=*/false));
  gate.Open();
  size_t done = 0;
  for (int i = 0; i < 3000 && done < 4; ++i) {
    done += offload.TakeDone().size();
    if (done < 4) std::this_thread::sleep_for(1ms);
  }
  ASSERT_EQ(done, 4u);
  std::lock_guard lock(mu);
  EXPECT_EQ(order, (std::vector<std::string>{"client-1", "core-1", "client-2", "client-3"}));
}

// A quote and a submit of an infer job with a BPE tokenizer: both are counted on the worker (the
// quote holds it at the gate while another peer's ping is answered and the submit waits behind
// it), and both answers are the counts of the same tokenizer built here.
TEST_F(OffloadReactorTest, BpePromptsAreCountedOffTheReactorThread) {
  if (HasFatalFailure()) return;
  Identity client_id = Identity::Generate();
  auto client = Connect(client_id);
  auto client_store = *BlobStore::Open(dir_ / "client-blobs");
  auto upload = [&](std::string_view bytes) {
    const Hash256 h = *client_store->Put(bytes);
    EXPECT_TRUE(PushBlob(*client, *client_store, h, 5s));
    return h;
  };
  const kernels::ModelConfig model{1, 2, 32, 16, 300};
  const auto ckpt = *kernels::SaveCheckpointBytes(model, *kernels::InitialParams(model, 1));
  const auto files = kernels::testing::SyntheticBpeFiles(model.vocab);
  const Hash256 ckpt_hash = upload(std::string_view(reinterpret_cast<const char*>(ckpt.data()),
                                                    ckpt.size()));
  const Hash256 vocab = upload(files.vocab_json), merges = upload(files.merges_txt);
  // One long word (BPE's costly case) and two short prompts.
  std::string word;
  for (int i = 0; i < 4096; ++i) word += "thesea"[i % 6];
  const std::vector<std::string> prompts = {word, "the rain in spain", ""};
  std::string toml =
      "[job]\nkind = \"infer\"\nseed = 5\n[infer]\ncheckpoint = \"m.safetensors\"\nprompts = [";
  for (const std::string& p : prompts) toml += "\"" + p + "\", ";
  toml += "]\nmax_new_tokens = 4\ntokenizer = \"gpt2-bpe\"\n"
          "tokenizer_files = [\"v.json\", \"m.txt\"]\n[network]\nworkers = 2\n[payment]\n"
          "max_price_micro_plume_per_pflop = 1000\nbudget_micro_plume = 1000000000\n";
  auto send = [&](bool quote) {
    auto m = client->NewRequest();
    auto fill = [&](auto refs) {
      const std::pair<const char*, Hash256> named[] = {
          {"checkpoint", ckpt_hash}, {"tokenizer.0", vocab}, {"tokenizer.1", merges}};
      for (unsigned i = 0; i < 3; ++i) {
        refs[i].setName(named[i].first);
        refs[i].setHash(AsData(named[i].second));
      }
    };
    if (quote) {
      auto q = m.body().initQuoteJob();
      q.setSpecToml(toml);
      fill(q.initDataBlobs(3));
    } else {
      auto s = m.body().initSubmitJob();
      const Hash256 spec_hash = Blake2b256(std::string_view(toml));
      s.setSpecToml(toml);
      s.setSpecHash(AsData(spec_hash));
      s.setSignature(AsData(client_id.Sign(SpecSigningBytes(spec_hash))));
      s.setClientJobKey("bpe");
      fill(s.initDataBlobs(3));
    }
    EXPECT_TRUE(client->Send(m));
    return m.request_id();
  };
  const uint64_t quote = send(true), submit = send(false);
  WaitForGate(1);
  ExpectPingAnswered();
  EXPECT_NE(gate_.threads().at(0), loop_.get_id());
  EXPECT_TRUE(reactor_->core().state().jobs.empty());  // not taken before its prompts are counted
  gate_.Open();
  Message q = ReplyTo(*client, quote);
  Message a = ReplyTo(*client, submit);
  ASSERT_EQ(q.kind(), MessageKind::QUOTE_REPLY) << q.body().getError().getMessage().cStr();
  ASSERT_EQ(a.kind(), MessageKind::SUBMIT_ACK) << a.body().getError().getMessage().cStr();
  EXPECT_EQ(gate_.passed(), 2);  // the quote's count and the submit's

  auto tokenizer = kernels::LoadBpeTokenizer(files.vocab_json, files.merges_txt);
  ASSERT_TRUE(tokenizer);
  std::vector<int64_t> counts;
  for (const std::string& p : prompts) counts.push_back(kernels::PromptTokens(**tokenizer, p));
  ASSERT_LT(counts[0], static_cast<int64_t>(word.size()));  // merged: fewer tokens than bytes
  EXPECT_EQ(q.body().getQuoteReply().getFlops(),
            static_cast<uint64_t>(kernels::InferTaskFlops(model, counts, 4)));
  const Job& job = reactor_->core().state().jobs.at(a.body().getSubmitAck().getJobId());
  EXPECT_EQ(std::vector<int64_t>(job.spec.infer.prompt_tokens.begin(),
                                 job.spec.infer.prompt_tokens.end()),
            counts);
  EXPECT_EQ(job.spec.infer.prompt_tokens_max, static_cast<uint32_t>(counts[0]));
}

}  // namespace
}  // namespace plume::scheduler
