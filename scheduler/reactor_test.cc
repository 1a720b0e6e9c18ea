// The reactor over real CURVE sockets on loopback: a hand-driven agent and a client run an
// inference job end to end (register, upload, signed submit, assignment with the right prompt
// slice, signed and screened result, duplicate result, fetch of the joined outputs in prompt
// order), and a stranger is refused the job's blobs; with a ledger, the quote is the escrow hold
// a submit must carry.
#include "plume/scheduler/reactor.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <mutex>
#include <thread>

#include "plume/kernels/checkpoint.h"
#include "plume/kernels/flops.h"
#include "plume/kernels/gpt.h"
#include "plume/kernels/ops.h"
#include "plume/ledger/amount.h"
#include "plume/protocol/blob_service.h"
#include "plume/protocol/receipt.h"
#include "reactor_test_util.h"

namespace plume::scheduler {
namespace {

using namespace std::chrono_literals;

class ReactorTest : public ReactorFixture {
 protected:
  void SetUp() override {
    MakeDir("plume-reactor-");
    ReactorOptions o;
    o.state_dir = dir_ / "sched";
    o.sync = Sync::kNormal;
    o.core.lease_ms = 60'000;  // the test sends no heartbeats
    o.upload_quota_bytes_per_day = upload_quota_;
    if (with_escrow_) {
      o.escrow_signature = [this](const std::string& job, std::span<const uint8_t>) {
        std::lock_guard lock(kept_mu_);
        kept_holds_.push_back(job);
        return Status{};
      };
    }
    StartReactor(o);
    if (HasFatalFailure()) return;
  }

  bool with_escrow_ = false;  // as with a ledger: submits carry a signed escrow hold
  uint64_t upload_quota_ = ReactorOptions{}.upload_quota_bytes_per_day;
  std::mutex kept_mu_;
  std::vector<std::string> kept_holds_;
};

// The kernel class an agent registers with (Register.kernelBuild) is kept per node and listed
// as sent; replay audits match providers by it (docs/determinism.md).
TEST_F(ReactorTest, RegisteredKernelClassIsListed) {
  const std::string kClass = "cpu/Haswell.x86-64-v3.openblas-0.3.21.glibc-2.36/0123456789abcdef";
  Identity agent_id = Identity::Generate();
  auto agent = Connect(agent_id);
  auto reg = agent->NewRequest();
  auto r = reg.body().initRegister();
  r.setName("classy");
  r.setKernelBuild(kClass);
  r.setPriceMicroPlumePerPflop(1);  // a price <= 0 is refused
  auto gpu = r.initGpus(1)[0];
  gpu.setName("cpu");
  gpu.setBackend(wire::Backend::CPU);
  gpu.setSelftestPassed(true);
  ASSERT_EQ(Call(*agent, reg).kind(), MessageKind::REGISTER_ACK);
  auto list = agent->NewRequest();
  list.body().initListNodes();
  Message nodes = Call(*agent, list);
  ASSERT_EQ(nodes.kind(), MessageKind::LIST_NODES_REPLY);
  auto rows = nodes.body().getListNodesReply().getNodes();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(std::string(rows[0].getKernelBuild().cStr()), kClass);
}

// Security review F3: a price of 0 or less would rank first for every job. Such a register is
// answered with an Error that says what to fix and the node is never listed (nor placed); a
// registered node that re-registers with such a price keeps the price it had.
TEST_F(ReactorTest, RegisterWithPriceZeroOrNegativeIsRefused) {
  Identity agent_id = Identity::Generate();
  auto agent = Connect(agent_id);
  auto register_at = [&](int64_t price) {
    auto reg = agent->NewRequest();
    auto r = reg.body().initRegister();
    r.setName("cheap");
    r.setPriceMicroPlumePerPflop(price);
    auto gpu = r.initGpus(1)[0];
    gpu.setName("cpu");
    gpu.setBackend(wire::Backend::CPU);
    gpu.setSelftestPassed(true);
    return Call(*agent, reg);
  };
  auto listed = [&]() -> std::vector<int64_t> {
    auto list = agent->NewRequest();
    list.body().initListNodes();
    Message nodes = Call(*agent, list);
    std::vector<int64_t> prices;
    for (auto n : nodes.body().getListNodesReply().getNodes()) {
      prices.push_back(n.getPriceMicroPlumePerPflop());
    }
    return prices;
  };
  for (int64_t price : {int64_t{0}, int64_t{-1}, INT64_MIN}) {
    Message refused = register_at(price);
    ASSERT_EQ(refused.kind(), MessageKind::ERROR) << price;
    EXPECT_EQ(refused.body().getError().getCode(), wire::ErrorCode::BAD_MESSAGE);
    EXPECT_NE(std::string(refused.body().getError().getMessage().cStr()).find("more than 0"),
              std::string::npos);
    EXPECT_TRUE(listed().empty()) << price;
  }
  ASSERT_EQ(register_at(7).kind(), MessageKind::REGISTER_ACK);
  EXPECT_EQ(listed(), std::vector<int64_t>{7});
  EXPECT_EQ(register_at(0).kind(), MessageKind::ERROR);
  EXPECT_EQ(listed(), std::vector<int64_t>{7}) << "a refused re-register changed the price";
}

TEST_F(ReactorTest, InferenceJobEndToEndOverCurve) {
  Identity agent_id = Identity::Generate(), client_id = Identity::Generate();
  auto agent = Connect(agent_id), agent_bulk = Connect(agent_id), client = Connect(client_id);
  auto agent_store = *BlobStore::Open(dir_ / "agent-blobs");
  auto client_store = *BlobStore::Open(dir_ / "client-blobs");

  auto reg = agent->NewRequest();
  auto r = reg.body().initRegister();
  r.setName("test-agent");
  r.setPriceMicroPlumePerPflop(10);
  auto gpu = r.initGpus(1)[0];
  gpu.setName("cpu");
  gpu.setMemoryBytes(8ULL << 30);
  gpu.setCount(1);
  gpu.setBackend(wire::Backend::CPU);
  gpu.setSelftestPassed(true);
  gpu.setMeasuredFlopsPerSec(1e9);
  ASSERT_EQ(Call(*agent, reg).kind(), MessageKind::REGISTER_ACK);

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
  ASSERT_EQ(ack.kind(), MessageKind::SUBMIT_ACK) << KindName(ack.kind());
  const std::string job = ack.body().getSubmitAck().getJobId();

  // A stranger may not read the job's blobs.
  Identity stranger_id = Identity::Generate();
  auto stranger = Connect(stranger_id);
  auto get = stranger->NewRequest();
  get.body().initBlobGet().setHash(AsData(ckpt_hash));
  Message refused = Call(*stranger, get);
  ASSERT_EQ(refused.kind(), MessageKind::ERROR);
  EXPECT_EQ(refused.body().getError().getCode(), wire::ErrorCode::UNAUTHORIZED);

  std::string joined;
  for (int shard = 0; shard < 2; ++shard) {
    auto m = agent->Recv(10s);
    ASSERT_TRUE(m && m->has_value()) << "no task assignment for shard " << shard;
    ASSERT_EQ((*m)->kind(), MessageKind::TASK_ASSIGN);
    auto a = (*m)->body().getTaskAssign();
    auto p = a.getParams().getInfer();
    EXPECT_EQ(p.getFirstPromptIndex(), shard == 0 ? 0u : 2u);
    EXPECT_EQ(p.getPrompts().size(), shard == 0 ? 2u : 1u);
    ASSERT_TRUE(PullBlob(*agent_bulk, *agent_store, ckpt_hash, 5s));  // assigned: allowed
    // Well-formed shard output (the screens refuse anything else): the prompts are plain ASCII.
    const std::string out = ShardOutput(a);
    joined += out;
    const Hash256 out_hash = *agent_store->Put(out);
    ASSERT_TRUE(PushBlob(*agent_bulk, *agent_store, out_hash, 5s));
    if (shard == 0) {
      // Another key's result for this attempt is refused before any signature check is spent
      // on it (hostile peer: results for tasks it does not hold).
      auto forged = stranger->NewRequest();
      FillTaskResult(forged, stranger_id, job, a, ckpt_hash, out_hash);
      Message no = Call(*stranger, forged);
      ASSERT_EQ(no.kind(), MessageKind::TASK_RESULT_ACK);
      EXPECT_FALSE(no.body().getTaskResultAck().getAccepted());
      EXPECT_NE(std::string(no.body().getTaskResultAck().getMessage()).find("not assigned to you"),
                std::string::npos);
    }
    auto res = agent->NewRequest();
    FillTaskResult(res, agent_id, job, a, ckpt_hash, out_hash);
    Message rack = Call(*agent_bulk, res);  // assignments keep coming on `agent`
    ASSERT_EQ(rack.kind(), MessageKind::TASK_RESULT_ACK);
    EXPECT_TRUE(rack.body().getTaskResultAck().getAccepted());
    // The same result again (a lost ack): acknowledged, not counted twice.
    Message again = Call(*agent_bulk, res);
    EXPECT_TRUE(again.body().getTaskResultAck().getAccepted());
  }

  auto st = client->NewRequest();
  st.body().initJobStatus().setJobId(job);
  Message status = Call(*client, st);
  ASSERT_EQ(status.kind(), MessageKind::JOB_STATUS_REPLY);
  auto info = status.body().getJobStatusReply().getJob();
  EXPECT_EQ(info.getState(), wire::JobState::SUCCEEDED);
  EXPECT_EQ(info.getTasksDone(), 2u);

  auto fetch = client->NewRequest();
  fetch.body().initFetchJob().setJobId(job);
  Message fetched = Call(*client, fetch);
  ASSERT_EQ(fetched.kind(), MessageKind::FETCH_JOB_REPLY);
  auto outputs = fetched.body().getFetchJobReply().getOutputs();
  ASSERT_EQ(outputs.size(), 1u);
  const Hash256 joined_hash = *HashFromData(outputs[0].getHash());
  ASSERT_TRUE(PullBlob(*client, *client_store, joined_hash, 5s));
  EXPECT_EQ(*client_store->Get(joined_hash), joined);
}

// F5: a train submit that cannot run (here: a budget below its cost), or whose model is larger
// than the scheduler initialises, is refused before the model is initialised and stored.
TEST_F(ReactorTest, TrainSubmitsThatCannotRunAreRefusedBeforeTheModelIsBuilt) {
  Identity client_id = Identity::Generate();
  auto client = Connect(client_id);
  auto client_store = *BlobStore::Open(dir_ / "client-blobs");
  const std::string text(4096, 'x');
  const Hash256 data_hash = *client_store->Put(text);
  ASSERT_TRUE(PushBlob(*client, *client_store, data_hash, 5s));
  auto stored_blobs = [&] {
    size_t n = 0;
    for (auto& e : std::filesystem::recursive_directory_iterator(dir_ / "sched" / "blobs")) {
      const std::string parent = e.path().parent_path().filename().string();
      n += e.is_regular_file() && parent != "partial" && parent != "tmp";
    }
    return n;
  };
  const size_t before = stored_blobs();
  auto submit = [&](const std::string& model, int64_t budget, const std::string& key,
                    bool sign_bare_hash = false) {
    const std::string spec = "[job]\nname = \"t\"\nkind = \"train\"\nseed = 1\n[model]\n" + model +
                             "[data]\npath = \"data.txt\"\n[train]\nsteps = 1\nbatch = 1\nseq_len = 8\nlr = 1e-3\n"
                             "[network]\nworkers = 1\n"
                             "rounds = 1\nlocal_steps = 1\n[payment]\n"
                             "max_price_micro_plume_per_pflop = 1000000000000\nbudget_micro_plume = " +
                             std::to_string(budget) + "\n";
    auto m = client->NewRequest();
    auto s = m.body().initSubmitJob();
    const Hash256 spec_hash = Blake2b256(spec);
    s.setSpecToml(spec);
    s.setSpecHash(AsData(spec_hash));
    s.setSignature(AsData(sign_bare_hash ? client_id.Sign(std::span<const uint8_t>(spec_hash))
                                         : client_id.Sign(SpecSigningBytes(spec_hash))));
    s.setClientJobKey(key);
    auto ref = s.initDataBlobs(1)[0];
    ref.setName("data");
    ref.setHash(AsData(data_hash));
    ref.setSizeBytes(text.size());
    return Call(*client, m);
  };
  const std::string small = "n_layer = 1\nn_head = 2\nn_embd = 32\ncontext = 16\nvocab = 256\n";
  // A signature over the bare spec hash (no domain tag) is not a spec signature (F20).
  Message bare = submit(small, 1'000'000'000'000'000, "bare", true);
  ASSERT_EQ(bare.kind(), MessageKind::ERROR);
  EXPECT_EQ(bare.body().getError().getCode(), wire::ErrorCode::UNAUTHORIZED);
  Message poor = submit(small, 1, "poor");
  ASSERT_EQ(poor.kind(), MessageKind::ERROR) << KindName(poor.kind());
  EXPECT_NE(std::string(poor.body().getError().getMessage()).find("budget"), std::string::npos)
      << poor.body().getError().getMessage().cStr();
  EXPECT_EQ(stored_blobs(), before);  // no initial parameters were made for it
  // ~2.4 G parameters: refused at once, nothing allocated.
  const std::string huge = "n_layer = 48\nn_head = 16\nn_embd = 2048\ncontext = 2048\nvocab = 50257\n";
  Message big = submit(huge, 1'000'000'000'000'000, "huge");
  ASSERT_EQ(big.kind(), MessageKind::ERROR);
  EXPECT_NE(std::string(big.body().getError().getMessage()).find("parameters"), std::string::npos)
      << big.body().getError().getMessage().cStr();
  EXPECT_EQ(stored_blobs(), before);
  // The same small model with a budget that covers it is accepted (and its parameters stored).
  Message ok = submit(small, 1'000'000'000'000'000, "ok");
  ASSERT_EQ(ok.kind(), MessageKind::SUBMIT_ACK) << ok.body().getError().getMessage().cStr();
  EXPECT_EQ(stored_blobs(), before + 1);
}

class EscrowReactorTest : public ReactorTest {
 protected:
  void SetUp() override {
    with_escrow_ = true;
    ReactorTest::SetUp();
  }
};

// The quote is the hold: FLOPs by the kernels' rule for each shard's own prompts, at the job's
// maximum price, plus the network's fee, plus the verification reserve (by default an audit and
// a referee of every task at that price, docs/payments.md); a submit whose team signed another amount is refused
// before anything is kept, and the right amount is held and acknowledged.
TEST_F(EscrowReactorTest, QuoteIsTheHoldAndAHoldSignedForAnotherAmountIsRefused) {
  Identity client_id = Identity::Generate();
  auto client = Connect(client_id);
  auto client_store = *BlobStore::Open(dir_ / "client-blobs");
  const std::vector<uint8_t> ckpt = TinyCheckpoint();
  const Hash256 ckpt_hash = *client_store->Put(std::span<const uint8_t>(ckpt));
  ASSERT_TRUE(PushBlob(*client, *client_store, ckpt_hash, 5s));
  std::string spec = kSpec;
  const std::string cheap = "max_price_micro_plume_per_pflop = 1000\n";
  const uint64_t price = 3'000'000'000'000;
  spec.replace(spec.find(cheap), cheap.size(),
               "max_price_micro_plume_per_pflop = " + std::to_string(price) + "\n");
  auto fill_ref = [&](wire::BlobRef::Builder ref) {
    ref.setName("checkpoint");
    ref.setHash(AsData(ckpt_hash));
    ref.setSizeBytes(ckpt.size());
  };

  auto quote = client->NewRequest();
  quote.body().initQuoteJob().setSpecToml(spec);
  fill_ref(quote.body().getQuoteJob().initDataBlobs(1)[0]);
  Message q = Call(*client, quote);
  ASSERT_EQ(q.kind(), MessageKind::QUOTE_REPLY) << KindName(q.kind());
  // Two shards: [alpha, beta] and [gamma]; 4 new tokens each.
  const kernels::ModelConfig model{1, 2, 32, 16, 256};
  const uint64_t shard0 = static_cast<uint64_t>(kernels::GenerationFlops(model, 5, 4) +
                                                kernels::GenerationFlops(model, 4, 4));
  const uint64_t shard1 = static_cast<uint64_t>(kernels::GenerationFlops(model, 5, 4));
  const int64_t expected = ledger::CostWithFee(price, shard0, kFeeBpsDefault)->value() +
                           ledger::CostWithFee(price, shard1, kFeeBpsDefault)->value();
  ASSERT_GT(expected, 0);
  EXPECT_EQ(q.body().getQuoteReply().getFlops(), shard0 + shard1);
  EXPECT_EQ(q.body().getQuoteReply().getFeeBps(), kFeeBpsDefault);
  const int64_t reserve = 2 * expected;  // kVerificationReserveBpsDefault = 20000
  EXPECT_EQ(q.body().getQuoteReply().getVerificationReserveMicroPlume(), reserve);
  EXPECT_EQ(q.body().getQuoteReply().getMaxCostMicroPlume(), expected + reserve);
  const int64_t hold = expected + reserve;

  auto submit = [&](int64_t signed_amount) {
    auto m = client->NewRequest();
    auto s = m.body().initSubmitJob();
    const Hash256 spec_hash = Blake2b256(spec);
    s.setSpecToml(spec);
    s.setSpecHash(AsData(spec_hash));
    s.setSignature(AsData(client_id.Sign(SpecSigningBytes(spec_hash))));
    s.setClientJobKey("k-" + std::to_string(signed_amount));
    s.setEscrowHoldSignature(AsData(Signature{}));  // the bridge checks it; not this test
    s.setEscrowHoldMicroPlume(signed_amount);
    fill_ref(s.initDataBlobs(1)[0]);
    return Call(*client, m);
  };
  Message refused = submit(expected);  // without the reserve
  ASSERT_EQ(refused.kind(), MessageKind::ERROR);
  EXPECT_NE(std::string(refused.body().getError().getMessage()).find("escrow hold you signed"),
            std::string::npos)
      << refused.body().getError().getMessage().cStr();
  {
    std::lock_guard lock(kept_mu_);
    EXPECT_TRUE(kept_holds_.empty());
  }

  Message ack = submit(hold);
  ASSERT_EQ(ack.kind(), MessageKind::SUBMIT_ACK) << KindName(ack.kind());
  EXPECT_EQ(ack.body().getSubmitAck().getEscrowMicroPlume(), hold);
  std::lock_guard lock(kept_mu_);
  ASSERT_EQ(kept_holds_.size(), 1u);
  EXPECT_EQ(kept_holds_[0], std::string(ack.body().getSubmitAck().getJobId()));
}

class QuotaReactorTest : public ReactorTest {
 protected:
  void SetUp() override {
    upload_quota_ = 100'000;
    ReactorTest::SetUp();
  }
};

// A client key uploads within its daily quota and is refused past it; a blob already stored
// costs nothing, and another key has its own quota.
TEST_F(QuotaReactorTest, UploadsPastTheDailyQuotaAreRefused) {
  Identity alice_id = Identity::Generate(), bob_id = Identity::Generate();
  auto alice = Connect(alice_id), bob = Connect(bob_id);
  auto store = *BlobStore::Open(dir_ / "client-blobs");
  auto put = [&](size_t size, char fill) {
    return *store->Put(std::string(size, fill));
  };
  const Hash256 first = put(60'000, 'a'), second = put(60'000, 'b');
  ASSERT_TRUE(PushBlob(*alice, *store, first, 5s));
  auto refused = PushBlob(*alice, *store, second, 5s);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("quota"), std::string::npos) << refused.error().message;
  ASSERT_TRUE(PushBlob(*alice, *store, first, 5s));  // stored already: free
  ASSERT_TRUE(PushBlob(*bob, *store, second, 5s));
}

}  // namespace
}  // namespace plume::scheduler
