// An infer job's tokenizer at the scheduler, over real CURVE sockets and a hand-driven client
// that bypasses `plume submit`'s own checks (a hostile or buggy submitter): a submit naming an
// unknown tokenizer, a tokenizer file that was not uploaded, a malformed file or a vocabulary
// other than the checkpoint's is refused with the reason and creates no job; a good one is
// quoted in BPE tokens, and its assignments carry the tokenizer, its file blobs (readable by the
// assigned agent only), top_p and the stop sequences.
#include <gtest/gtest.h>

#include <sstream>

#include "bpe_test_util.h"
#include "plume/kernels/bpe.h"
#include "plume/kernels/flops.h"
#include "plume/protocol/blob_service.h"
#include "reactor_test_util.h"
#include "sqlite.h"

namespace plume::scheduler {
namespace {

using namespace std::chrono_literals;

constexpr int kVocab = 300;  // the checkpoint's vocabulary, which the tokenizer must match

class ReactorTokenizerTest : public ReactorFixture {
 protected:
  void SetUp() override {
    MakeDir("plume-reactor-tok-");
    options_.state_dir = dir_ / "sched";
    options_.sync = Sync::kNormal;
    options_.core.lease_ms = 60'000;
    options_.before_offloaded_work = [this] { gate_.Pass(); };
    gate_.Open();  // held only where a test closes it
    StartReactor(options_);
    if (HasFatalFailure()) return;
    client_ = Connect(client_id_);
    client_store_ = *BlobStore::Open(dir_ / "client-blobs");
    kernels::ModelConfig model{1, 2, 32, 16, kVocab};
    auto params = kernels::InitialParams(model, 1);
    ASSERT_TRUE(params);
    ckpt_ = Upload(*kernels::SaveCheckpointBytes(model, *params));
  }

  Hash256 Upload(const std::vector<uint8_t>& bytes) {
    const Hash256 h = *client_store_->Put(std::span<const uint8_t>(bytes));
    EXPECT_TRUE(PushBlob(*client_, *client_store_, h, 5s));
    return h;
  }
  Hash256 Upload(const std::string& text) { return Upload(std::vector<uint8_t>(text.begin(), text.end())); }

  static std::string Spec(const std::string& tokenizer_lines) {
    return std::string(R"toml(
[job]
kind = "infer"
seed = 5
[infer]
checkpoint = "model.safetensors"
prompts = ["the rain in spain", "", "a sea"]
max_new_tokens = 4
temperature = 0.5
top_p = 0.9
stop = ["zz", "\n"]
)toml") + tokenizer_lines + R"toml(
[network]
workers = 2
[payment]
max_price_micro_plume_per_pflop = 1000
budget_micro_plume = 1000000000
)toml";
  }

  void TearDown() override {
    gate_.Open();
    ReactorFixture::TearDown();
  }

  // Submits (or quotes) `toml` with the checkpoint and `files` as tokenizer.0, tokenizer.1, ...
  Message Send(const std::string& toml, const std::vector<Hash256>& files, bool quote,
               const std::string& key = "k") {
    auto m = client_->NewRequest();
    auto fill = [&](auto refs) {
      refs[0].setName("checkpoint");
      refs[0].setHash(AsData(ckpt_));
      for (size_t i = 0; i < files.size(); ++i) {
        refs[static_cast<unsigned>(i + 1)].setName("tokenizer." + std::to_string(i));
        refs[static_cast<unsigned>(i + 1)].setHash(AsData(files[i]));
      }
    };
    const auto n = static_cast<unsigned>(files.size() + 1);
    if (quote) {
      auto q = m.body().initQuoteJob();
      q.setSpecToml(toml);
      fill(q.initDataBlobs(n));
    } else {
      auto s = m.body().initSubmitJob();
      const Hash256 spec_hash = Blake2b256(std::string_view(toml));
      s.setSpecToml(toml);
      s.setSpecHash(AsData(spec_hash));
      s.setSignature(AsData(client_id_.Sign(SpecSigningBytes(spec_hash))));
      s.setClientJobKey(key);
      fill(s.initDataBlobs(n));
    }
    return Call(*client_, m);
  }

  void ExpectRefused(const std::string& toml, const std::vector<Hash256>& files,
                     const std::string& reason) {
    for (bool quote : {true, false}) {
      Message r = Send(toml, files, quote, "refused-" + reason);
      ASSERT_EQ(r.kind(), MessageKind::ERROR) << reason;
      EXPECT_EQ(r.body().getError().getCode(), wire::ErrorCode::INVALID_SPEC);
      EXPECT_NE(std::string(r.body().getError().getMessage().cStr()).find(reason),
                std::string::npos)
          << r.body().getError().getMessage().cStr();
    }
  }

  // Stops the reactor and starts a new one on the same state directory (a scheduler restart);
  // `while_stopped` runs in between (a change to the stored state).
  void Restart(const std::function<void()>& while_stopped = {}) {
    stop_ = true;
    loop_.join();
    reactor_.reset();
    if (while_stopped) while_stopped();
    stop_ = false;
    StartReactor(options_);
    client_ = Connect(client_id_);
  }

  // Registers an agent; with `wait_ack` false the register is only sent (an assignment may then
  // arrive before its ack, which a Call would skip over).
  std::unique_ptr<TransportClient> RegisteredAgent(const Identity& id, bool wait_ack = true) {
    auto agent = Connect(id);
    auto reg = agent->NewRequest();
    auto r = reg.body().initRegister();
    r.setName("agent");
    r.setPriceMicroPlumePerPflop(10);
    auto gpu = r.initGpus(1)[0];
    gpu.setName("cpu");
    gpu.setMemoryBytes(8ULL << 30);
    gpu.setCount(1);
    gpu.setBackend(wire::Backend::CPU);
    gpu.setSelftestPassed(true);
    gpu.setMeasuredFlopsPerSec(1e9);
    if (wait_ack) {
      EXPECT_EQ(Call(*agent, reg).kind(), MessageKind::REGISTER_ACK);
    } else {
      EXPECT_TRUE(agent->Send(reg));
    }
    return agent;
  }

  // The first assignment to a new agent after a restart, and that agent's bulk connection.
  struct Assigned {
    Identity id = Identity::Generate();
    std::unique_ptr<TransportClient> agent, bulk;
    std::unique_ptr<BlobStore> store;
    std::optional<Message> assign;
  };
  std::unique_ptr<Assigned> AssignAfterRestart() {
    auto a = std::make_unique<Assigned>();
    a->agent = RegisteredAgent(a->id, /*wait_ack=*/false);
    auto m = a->agent->Recv(10s);
    if (m && m->has_value() && (*m)->kind() == MessageKind::REGISTER_ACK) m = a->agent->Recv(10s);
    EXPECT_TRUE(m && m->has_value());
    if (m && m->has_value() && (*m)->kind() == MessageKind::TASK_ASSIGN) a->assign = std::move(**m);
    a->bulk = Connect(a->id);
    a->store = *BlobStore::Open(dir_ / "agent-blobs");
    return a;
  }

  std::pair<Hash256, Hash256> SubmitBpeJobAndQuota(const std::string& key);

  ReactorOptions options_;
  Gate gate_;
  Identity client_id_ = Identity::Generate();
  std::unique_ptr<TransportClient> client_;
  std::unique_ptr<BlobStore> client_store_;
  Hash256 ckpt_{};
};

const std::string kBpeFiles = "tokenizer = \"gpt2-bpe\"\ntokenizer_files = [\"v.json\", \"m.txt\"]\n";

TEST_F(ReactorTokenizerTest, BadTokenizersAreRefusedAtSubmitWithTheReason) {
  const auto good = kernels::testing::SyntheticBpeFiles(kVocab);
  const Hash256 vocab = Upload(good.vocab_json), merges = Upload(good.merges_txt);
  ExpectRefused(Spec("tokenizer = \"wordpiece\"\n"), {}, "unknown tokenizer");
  ExpectRefused(Spec(kBpeFiles), {vocab}, "no \"tokenizer.1\" blob");
  ExpectRefused(Spec(kBpeFiles), {Upload(std::string("{not json")), merges}, "not valid JSON");
  ExpectRefused(Spec(kBpeFiles), {vocab, Upload(good.merges_txt + "qq zz\n")}, "names a token");
  ExpectRefused(Spec("tokenizer = \"gpt2-bpe\"\ntokenizer_files = [\"t.json\"]\n"),
                {Upload(std::string(R"({"model": {"type": "BPE", "vocab": {"a": 0}}})"))},
                "no token for byte");
  const auto other = kernels::testing::SyntheticBpeFiles(kVocab + 1);
  ExpectRefused(Spec(kBpeFiles), {Upload(other.vocab_json), Upload(other.merges_txt)},
                "the tokenizer has 301 tokens but the model's vocabulary is 300");
  // Another key's blob may not be named (the same answer as for a missing one).
  Identity mallory_id = Identity::Generate();
  auto mallory = Connect(mallory_id);
  auto mallory_store = *BlobStore::Open(dir_ / "mallory-blobs");
  const Hash256 theirs = *mallory_store->Put(std::string_view(good.merges_txt + "\n"));
  ASSERT_TRUE(PushBlob(*mallory, *mallory_store, theirs, 5s));
  ExpectRefused(Spec(kBpeFiles), {vocab, theirs}, "was not uploaded with your key");

  auto list = client_->NewRequest();
  list.body().initListJobs().setIncludeFinished(true);
  EXPECT_EQ(Call(*client_, list).body().getListJobsReply().getJobs().size(), 0u);
}

TEST_F(ReactorTokenizerTest, AGoodTokenizerIsBilledInItsTokensAndSentWithTheTask) {
  const auto files = kernels::testing::SyntheticBpeFiles(kVocab);
  const Hash256 vocab = Upload(files.vocab_json), merges = Upload(files.merges_txt);
  const std::string toml = Spec(kBpeFiles);
  auto tokenizer = kernels::LoadBpeTokenizer(files.vocab_json, files.merges_txt);
  ASSERT_TRUE(tokenizer);
  std::vector<int64_t> counts;
  for (const char* p : {"the rain in spain", "", "a sea"}) {
    counts.push_back(kernels::PromptTokens(**tokenizer, p));
  }
  ASSERT_LT(counts[0], 17);  // fewer tokens than bytes
  const kernels::ModelConfig model{1, 2, 32, 16, kVocab};
  Message quote = Send(toml, {vocab, merges}, true);
  ASSERT_EQ(quote.kind(), MessageKind::QUOTE_REPLY);
  EXPECT_EQ(quote.body().getQuoteReply().getFlops(),
            static_cast<uint64_t>(kernels::InferTaskFlops(model, counts, 4)));

  Identity agent_id = Identity::Generate();
  auto agent = RegisteredAgent(agent_id), agent_bulk = Connect(agent_id);
  auto agent_store = *BlobStore::Open(dir_ / "agent-blobs");
  // Before any assignment the agent may not read the tokenizer.
  auto early = agent_bulk->NewRequest();
  early.body().initBlobGet().setHash(AsData(vocab));
  EXPECT_EQ(Call(*agent_bulk, early).kind(), MessageKind::ERROR);

  Message ack = Send(toml, {vocab, merges}, false, "good");
  ASSERT_EQ(ack.kind(), MessageKind::SUBMIT_ACK) << ack.body().getError().getMessage().cStr();
  auto m = agent->Recv(10s);
  ASSERT_TRUE(m && m->has_value());
  ASSERT_EQ((*m)->kind(), MessageKind::TASK_ASSIGN);
  auto p = (*m)->body().getTaskAssign().getParams().getInfer();
  EXPECT_EQ(std::string(p.getTokenizer().cStr()), "gpt2-bpe");
  ASSERT_EQ(p.getTokenizerFiles().size(), 2u);
  EXPECT_EQ(*HashFromData(p.getTokenizerFiles()[0].getHash()), vocab);
  EXPECT_EQ(*HashFromData(p.getTokenizerFiles()[1].getHash()), merges);
  EXPECT_EQ(p.getTokenizerFiles()[1].getSizeBytes(), files.merges_txt.size());
  EXPECT_FLOAT_EQ(static_cast<float>(p.getTopP()), 0.9f);
  ASSERT_EQ(p.getStop().size(), 2u);
  EXPECT_EQ(std::string(p.getStop()[1].cStr()), "\n");
  EXPECT_TRUE(PullBlob(*agent_bulk, *agent_store, merges, 5s));  // assigned: allowed
}

// The job's tokenizer blobs are found again from the stored job after a restart (they are its
// last data blobs): the first assignment after the restart carries them. The file is a
// tokenizer.json this time.
TEST_F(ReactorTokenizerTest, AfterARestartAssignmentsStillCarryTheTokenizer) {
  const auto files = kernels::testing::SyntheticBpeFiles(kVocab);
  const Hash256 tok = Upload(R"({"model": {"type": "BPE", "vocab": )" +
                             nlohmann::json::parse(files.vocab_json).dump() + R"(, "merges": )" +
                             [&] {
                               nlohmann::json merges = nlohmann::json::array();
                               std::istringstream in(files.merges_txt);
                               std::string line;
                               std::getline(in, line);  // "#version"
                               while (std::getline(in, line)) merges.push_back(line);
                               return merges.dump();
                             }() + "}}");
  std::string toml = Spec("tokenizer = \"gpt2-bpe\"\ntokenizer_files = [\"tokenizer.json\"]\n");
  Message ack = Send(toml, {tok}, false, "restart");
  ASSERT_EQ(ack.kind(), MessageKind::SUBMIT_ACK) << ack.body().getError().getMessage().cStr();
  Restart();
  if (HasFatalFailure()) return;
  auto agent = RegisteredAgent(Identity::Generate(), /*wait_ack=*/false);
  auto m = agent->Recv(10s);
  if (m && m->has_value() && (*m)->kind() == MessageKind::REGISTER_ACK) m = agent->Recv(10s);
  ASSERT_TRUE(m && m->has_value());
  ASSERT_EQ((*m)->kind(), MessageKind::TASK_ASSIGN);
  auto p = (*m)->body().getTaskAssign().getParams().getInfer();
  EXPECT_EQ(std::string(p.getTokenizer().cStr()), "gpt2-bpe");
  ASSERT_EQ(p.getTokenizerFiles().size(), 1u);
  EXPECT_EQ(*HashFromData(p.getTokenizerFiles()[0].getHash()), tok);
  EXPECT_EQ(std::string(p.getTokenizerFiles()[0].getName().cStr()), "tokenizer.0");
  EXPECT_EQ(p.getPrompts().size(), 2u);  // the first of two shards of three prompts
}

// A BPE infer job submitted, and a quota of 1 byte a day for the scheduler's next start (so that
// only a task's result allowance lets an upload in); the tokenizer files' hashes.
std::pair<Hash256, Hash256> ReactorTokenizerTest::SubmitBpeJobAndQuota(const std::string& key) {
  const auto files = kernels::testing::SyntheticBpeFiles(kVocab);
  const Hash256 vocab = Upload(files.vocab_json), merges = Upload(files.merges_txt);
  Message ack = Send(Spec(kBpeFiles), {vocab, merges}, false, key);
  EXPECT_EQ(ack.kind(), MessageKind::SUBMIT_ACK) << ack.body().getError().getMessage().cStr();
  options_.upload_quota_bytes_per_day = 1;
  return {vocab, merges};
}

// After a restart, what an agent may upload for an infer task is bounded without building the
// job's tokenizer again (a BPE build takes seconds, and the bound is asked for on the reactor
// thread when an upload starts): the tokenizer's longest token was kept with the job when its
// prompts were counted. Shown by removing the tokenizer's blobs while the scheduler is down, so
// that no tokenizer can be built: the assigned agent's result upload is still let in outside a
// quota (1 byte a day) that refuses anything else. The code before rebuilt the tokenizer here,
// failed, and refused the upload.
TEST_F(ReactorTokenizerTest, AfterARestartTheResultBoundIsKeptNotRebuilt) {
  const auto [vocab, merges] = SubmitBpeJobAndQuota("kept");
  Restart([&] {
    auto store = BlobStore::Open(options_.state_dir / "blobs");
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->Remove(vocab));
    ASSERT_TRUE((*store)->Remove(merges));
  });
  if (HasFatalFailure()) return;
  auto a = AssignAfterRestart();
  ASSERT_TRUE(a->assign);
  ASSERT_EQ(a->assign->kind(), MessageKind::TASK_ASSIGN);
  const Hash256 out = *a->store->Put(ShardOutput(a->assign->body().getTaskAssign()));
  auto pushed = PushBlob(*a->bulk, *a->store, out, 5s);
  EXPECT_TRUE(pushed) << pushed.error().message;
  // A second blob for the same attempt is past the allowance and over the quota: the allowance,
  // not a lax quota, let the first one in.
  const Hash256 more = *a->store->Put(std::string_view("not this task's output"));
  EXPECT_FALSE(PushBlob(*a->bulk, *a->store, more, 5s));
}

// A job stored before the bound was kept with it (its stored spec has no token_bytes_max) has
// the bound found once on the offload worker after a restart, never on the reactor thread: with
// the worker held, the reactor answers the agent's upload at once (refused: the bound is not
// known yet and the 1-byte quota refuses the rest), the tokenizer build is waiting at the
// worker, and once it has run the same upload is let in.
TEST_F(ReactorTokenizerTest, AJobStoredWithoutTheBoundHasItFoundOffTheReactorThread) {
  SubmitBpeJobAndQuota("legacy");
  const int passed_before = gate_.passed();
  gate_.Close();
  Restart([&] {
    auto db = sql::Db::Open(options_.state_dir / "scheduler.db");
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->Exec("UPDATE job_specs SET spec = json_remove(spec, '$.infer.token_bytes_max')"));
  });
  if (HasFatalFailure()) return;
  auto a = AssignAfterRestart();
  ASSERT_TRUE(a->assign);
  ASSERT_EQ(a->assign->kind(), MessageKind::TASK_ASSIGN);
  const Hash256 out = *a->store->Put(ShardOutput(a->assign->body().getTaskAssign()));
  EXPECT_FALSE(PushBlob(*a->bulk, *a->store, out, 5s));  // answered while the worker is held
  for (int i = 0; i < 300 && gate_.passed() == passed_before; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(gate_.passed(), passed_before + 1) << "the tokenizer was not built on the worker";
  gate_.Open();
  Status pushed = Fail("not tried");
  for (int i = 0; i < 100 && !pushed; ++i) {
    pushed = PushBlob(*a->bulk, *a->store, out, 5s);
    if (!pushed) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(pushed) << pushed.error().message;
}

}  // namespace
}  // namespace plume::scheduler
