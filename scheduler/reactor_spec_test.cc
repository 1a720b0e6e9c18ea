// Spec integers the core and the wire keep in 32 bits are refused out of range, never truncated
// (security review F19): a quote of 2^32 + 1 local steps was quoted, and would have run and been
// billed, as 1; a warmup past 2^32 steps reached the agents as its low 32 bits.
#include <gtest/gtest.h>

#include "plume/protocol/blob_service.h"
#include "plume/scheduler/limits.h"
#include "reactor_test_util.h"

namespace plume::scheduler {
namespace {

using namespace std::chrono_literals;

class SpecRangeTest : public ReactorFixture {
 protected:
  void SetUp() override {
    MakeDir("plume-spec-range-");
    ReactorOptions o;
    o.state_dir = dir_ / "sched";
    o.sync = Sync::kNormal;
    StartReactor(o);
  }
};

TEST_F(SpecRangeTest, OutOfRangeIntegersAreRefusedNotTruncated) {
  if (HasFatalFailure()) return;
  Identity client_id = Identity::Generate();
  auto client = Connect(client_id);
  auto store = *BlobStore::Open(dir_ / "client-blobs");
  const Hash256 data = *store->Put(std::string(4096, 'x'));
  ASSERT_TRUE(PushBlob(*client, *store, data, 5s));
  auto quote = [&](const std::string& local_steps, const std::string& warmup) {
    const std::string spec =
        "[job]\nname = \"t\"\nkind = \"train\"\nseed = 1\n[model]\nn_layer = 1\nn_head = 2\n"
        "n_embd = 32\ncontext = 16\nvocab = 256\n[data]\npath = \"data.txt\"\n[train]\n"
        "steps = 1\nbatch = 1\nseq_len = 8\nlr = 1e-3\nwarmup_steps = " +
        warmup + "\n[network]\nworkers = 1\nrounds = 1\nlocal_steps = " + local_steps +
        "\n[payment]\nmax_price_micro_plume_per_pflop = 1000000000000\n"
        "budget_micro_plume = 1000000000000000\n";
    auto m = client->NewRequest();
    auto q = m.body().initQuoteJob();
    q.setSpecToml(spec);
    auto ref = q.initDataBlobs(1)[0];
    ref.setName("data");
    ref.setHash(AsData(data));
    ref.setSizeBytes(4096);
    return Call(*client, m);
  };
  Message ok = quote("1", "0");
  ASSERT_EQ(ok.kind(), MessageKind::QUOTE_REPLY) << ok.body().getError().getMessage().cStr();
  for (const auto& [steps, warmup, field] : {std::tuple{"4294967297", "0", "local_steps"},
                                             std::tuple{"1", "4294967296", "warmup_steps"}}) {
    Message refused = quote(steps, warmup);
    ASSERT_EQ(refused.kind(), MessageKind::ERROR) << field;
    EXPECT_EQ(refused.body().getError().getCode(), wire::ErrorCode::INVALID_SPEC);
    EXPECT_NE(std::string(refused.body().getError().getMessage()).find(field), std::string::npos)
        << refused.body().getError().getMessage().cStr();
  }
}

// F6: a quote reads a prompts blob only up to one message's worth (what inline prompts may be),
// and an inference checkpoint only as far as its header: a quote costs the reactor no more than
// a message does.
TEST_F(SpecRangeTest, AQuoteReadsNoMoreThanAMessageOfItsBlobs) {
  if (HasFatalFailure()) return;
  Identity client_id = Identity::Generate();
  auto client = Connect(client_id);
  auto store = *BlobStore::Open(dir_ / "client-blobs");
  const std::vector<uint8_t> ckpt = TinyCheckpoint();
  const Hash256 ckpt_hash = *store->Put(std::span<const uint8_t>(ckpt));
  ASSERT_TRUE(PushBlob(*client, *store, ckpt_hash, 5s));
  std::string big = "[";
  while (big.size() <= kPromptsBlobBytesMax) big += "\"aaaaaaaaaaaaaaaa\",";
  big += "\"a\"]";
  const std::string small = R"(["alpha", "beta"])";
  auto quote = [&](const std::string& prompts) {
    const Hash256 h = *store->Put(prompts);
    EXPECT_TRUE(PushBlob(*client, *store, h, 20s));
    const std::string spec =
        "[job]\nname = \"q\"\nkind = \"infer\"\nseed = 5\n[infer]\ncheckpoint = "
        "\"model.safetensors\"\nprompts_file = \"p.json\"\nmax_new_tokens = 4\n"
        "temperature = 0.0\ntop_k = 0\n[network]\nworkers = 1\nrounds = 1\n[payment]\n"
        "max_price_micro_plume_per_pflop = 1000\nbudget_micro_plume = 1000000\n";
    auto m = client->NewRequest();
    auto q = m.body().initQuoteJob();
    q.setSpecToml(spec);
    auto refs = q.initDataBlobs(2);
    refs[0].setName("checkpoint");
    refs[0].setHash(AsData(ckpt_hash));
    refs[0].setSizeBytes(ckpt.size());
    refs[1].setName("prompts");
    refs[1].setHash(AsData(h));
    refs[1].setSizeBytes(prompts.size());
    return Call(*client, m);
  };
  Message ok = quote(small);  // no [model]: the checkpoint's header says what it is
  ASSERT_EQ(ok.kind(), MessageKind::QUOTE_REPLY) << ok.body().getError().getMessage().cStr();
  Message refused = quote(big);
  ASSERT_EQ(refused.kind(), MessageKind::ERROR);
  EXPECT_NE(std::string(refused.body().getError().getMessage()).find("split the job"),
            std::string::npos)
      << refused.body().getError().getMessage().cStr();
}

}  // namespace
}  // namespace plume::scheduler
