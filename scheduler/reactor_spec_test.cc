// Spec integers the core and the wire keep in 32 bits are refused out of range, never truncated
// (security review F19): a quote of 2^32 + 1 local steps was quoted, and would have run and been
// billed, as 1; a warmup past 2^32 steps reached the agents as its low 32 bits.
#include <gtest/gtest.h>

#include "plume/protocol/blob_service.h"
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
        "steps = 1\nbatch = 1\nseq_len = 8\nlr = 1e-3\nwarmup_steps = " + warmup +
        "\n[network]\nworkers = 1\nrounds = 1\nlocal_steps = " + local_steps +
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
  for (const auto& [steps, warmup, field] :
       {std::tuple{"4294967297", "0", "local_steps"}, std::tuple{"1", "4294967296", "warmup_steps"}}) {
    Message refused = quote(steps, warmup);
    ASSERT_EQ(refused.kind(), MessageKind::ERROR) << field;
    EXPECT_EQ(refused.body().getError().getCode(), wire::ErrorCode::INVALID_SPEC);
    EXPECT_NE(std::string(refused.body().getError().getMessage()).find(field), std::string::npos)
        << refused.body().getError().getMessage().cStr();
  }
}

}  // namespace
}  // namespace plume::scheduler
