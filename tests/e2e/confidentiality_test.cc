// Blob confidentiality end to end (the F2 attack of the security review): a real plume-scheduler
// with the ledger on, a real agent and the real CLI on loopback, real keys.
//  - A team runs a paid train job with its own data: it submits its own blobs, the assigned agent
//    fetches the inputs, the team fetches the model and proves its own ledger entries.
//  - A stranger with a key and no credits then tries the attack step by step and fails at each:
//    enumerating ledger entries by index (no proof of another team's entry, so no receipt and
//    no blob hash), naming the team's data hash in a quote or a signed submit, "uploading" the
//    hash without its bytes, and reading the data and the model directly.
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "network.h"
#include "paid_network.h"
#include "plume/ledger/entry.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/limits.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;

std::unique_ptr<TransportClient> ConnectAs(const Network& net, const Identity& id) {
  auto server = PublicKeyFromHex(net.scheduler_id());
  if (!server) return nullptr;
  auto c = TransportClient::Connect(net.endpoint(), *server, id);
  return c ? std::move(*c) : nullptr;
}

// The reply's error code, or nullopt when the reply is not an error (or none came).
std::optional<wire::ErrorCode> ErrorOf(const Result<Message>& reply) {
  if (!reply || reply->kind() != MessageKind::ERROR) return std::nullopt;
  return reply->body().getError().getCode();
}

Result<Message> Inclusion(TransportClient& c, uint64_t index) {
  auto req = c.NewRequest();
  req.body().initLedgerQuery().initInclusion().setIndex(index);
  return c.Call(req, std::chrono::seconds(10));
}

Result<Message> GetBlob(TransportClient& c, const Hash256& hash) {
  auto req = c.NewRequest();
  auto g = req.body().initBlobGet();
  g.setHash(AsData(hash));
  g.setOffset(0);
  return c.Call(req, std::chrono::seconds(10));
}

void NameBlob(wire::BlobRef::Builder ref, const std::string& name, const Hash256& hash) {
  ref.setName(name);
  ref.setHash(AsData(hash));
}

TEST(ConfidentialityE2E, TheBlobLaunderingAttackFailsAtEveryStepAndTeamsStillWork) {
  Network net("confidential");
  PaidNetwork paid(net);
  std::string why;
  ASSERT_TRUE(paid.StartScheduler(&why)) << why;
  ASSERT_TRUE(net.StartAgent("a", &why)) << why;
  ASSERT_TRUE(net.WaitActiveNodes(1, seconds(60))) << net.Logs();
  ASSERT_EQ(paid.Mint("mint:team", 50'000'000'000, paid.operator_key()).exit_code, 0);

  // The team's own flow: its data, its job, the agent reads the inputs, the team the model.
  const fs::path data = WriteTrainingText(net.dir().path(), 30'000);
  TrainShape shape;
  shape.workers = 1;
  shape.rounds = 1;
  shape.local_steps = 3;
  const std::string job = paid.Submit(WriteTrainSpec(net.dir().path(), "secret", data, shape));
  ASSERT_FALSE(job.empty()) << net.Logs();
  auto done = net.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(200));
  ASSERT_TRUE(done) << net.Logs();
  ASSERT_EQ((*done)["state"], "succeeded") << done->dump() << net.Logs();
  CommandResult fetch = net.Cli({"fetch", job, "-o", (net.dir() / "out").string()});
  ASSERT_EQ(fetch.exit_code, 0) << fetch.err;
  const std::string model = ReadFile(net.dir() / "out" / "model.safetensors");
  ASSERT_FALSE(model.empty());
  const std::string text = ReadFile(data);
  const size_t val_n = static_cast<size_t>(std::floor(double(text.size()) * shape.val_fraction));
  const std::string secret = text.substr(0, text.size() - val_n);
  const Hash256 data_hash = Blake2b256(secret);
  const Hash256 model_hash = Blake2b256(model);

  auto team_id = Identity::Load(net.client_key());
  ASSERT_TRUE(team_id);
  auto team = ConnectAs(net, *team_id);
  ASSERT_TRUE(team);
  auto head_req = team->NewRequest();
  head_req.body().initLedgerQuery().setHead();
  auto head = team->Call(head_req, std::chrono::seconds(10));
  ASSERT_TRUE(head && head->kind() == MessageKind::LEDGER_REPLY) << net.Logs();
  const uint64_t entries = head->body().getLedgerReply().getHead().getTreeSize();
  ASSERT_GT(entries, 3u);  // mint, hold, settle, release at least
  uint64_t team_proofs = 0;
  for (uint64_t i = 0; i < entries; ++i) team_proofs += !ErrorOf(Inclusion(*team, i)).has_value();
  EXPECT_GE(team_proofs, 3u) << "the team cannot prove its own job's entries";

  // Step 1: enumerate the ledger by index. Every entry is the team's, the agent's or the
  // operator's: none is proved to the stranger, so no receipt and no hash leaks this way.
  Identity stranger = Identity::Generate();
  auto s = ConnectAs(net, stranger);
  ASSERT_TRUE(s);
  for (uint64_t i = 0; i < entries; ++i) {
    auto reply = Inclusion(*s, i);
    ASSERT_EQ(ErrorOf(reply), wire::ErrorCode::UNAUTHORIZED) << "entry #" << i << " proved";
  }

  // Step 2: name the team's data (its hash known some other way) in a quote and a signed
  // submit, as "data" and "val": refused, with the answer a blob that does not exist gets.
  for (const Hash256& h : {data_hash, Blake2b256(std::string("no such blob"))}) {
    auto quote = s->NewRequest();
    auto q = quote.body().initQuoteJob();
    q.setSpecToml(ReadFile(WriteTrainSpec(net.dir().path(), "launder", data, shape)));
    auto refs = q.initDataBlobs(2);
    NameBlob(refs[0], "data", h);
    NameBlob(refs[1], "val", h);
    auto reply = s->Call(quote, std::chrono::seconds(10));
    ASSERT_EQ(ErrorOf(reply), wire::ErrorCode::INVALID_SPEC);
    EXPECT_NE(std::string(reply->body().getError().getMessage().cStr()).find("not uploaded with "
                                                                            "your key"),
              std::string::npos)
        << reply->body().getError().getMessage().cStr();
  }
  const std::string toml = ReadFile(WriteTrainSpec(net.dir().path(), "launder", data, shape));
  auto submit = s->NewRequest();
  auto sj = submit.body().initSubmitJob();
  sj.setSpecToml(toml);
  const Hash256 spec_hash = Blake2b256(toml);
  sj.setSpecHash(AsData(spec_hash));
  const Signature sig = stranger.Sign(SpecSigningBytes(spec_hash));
  sj.setSignature(AsData(std::span<const uint8_t>(sig)));
  sj.setClientJobKey("launder");
  NameBlob(sj.initDataBlobs(1)[0], "data", data_hash);
  auto submitted = s->Call(submit, std::chrono::seconds(10));
  ASSERT_EQ(ErrorOf(submitted), wire::ErrorCode::INVALID_SPEC) << net.Logs();

  // Step 3: "upload" the hash without its bytes: the stored blob is not acknowledged, and
  // bytes that do not hash to it are refused, so the stranger never becomes its uploader.
  auto put = s->NewRequest();
  auto p = put.body().initBlobPut();
  p.setHash(AsData(data_hash));
  p.setOffset(0);
  p.setTotalSizeBytes(secret.size());
  auto ack = s->Call(put, std::chrono::seconds(10));
  ASSERT_TRUE(ack && ack->kind() == MessageKind::BLOB_ACK) << net.Logs();
  EXPECT_FALSE(ack->body().getBlobAck().getComplete());
  EXPECT_EQ(ack->body().getBlobAck().getNextOffset(), 0u);
  const std::string forged(secret.size(), 'x');
  std::optional<wire::ErrorCode> forged_code;
  for (uint64_t off = 0; off < forged.size() && !forged_code; off += limits::kBlobChunkBytes) {
    auto chunk = s->NewRequest();
    auto c = chunk.body().initBlobPut();
    c.setHash(AsData(data_hash));
    c.setOffset(off);
    const std::string part = forged.substr(off, limits::kBlobChunkBytes);
    c.setBytes(AsData(std::span(reinterpret_cast<const uint8_t*>(part.data()), part.size())));
    c.setTotalSizeBytes(forged.size());
    forged_code = ErrorOf(s->Call(chunk, std::chrono::seconds(10)));
  }
  EXPECT_EQ(forged_code, wire::ErrorCode::BAD_MESSAGE);

  // Step 4: read the data and the model directly.
  EXPECT_EQ(ErrorOf(GetBlob(*s, data_hash)), wire::ErrorCode::UNAUTHORIZED);
  EXPECT_EQ(ErrorOf(GetBlob(*s, model_hash)), wire::ErrorCode::UNAUTHORIZED);
  // The team itself still reads both.
  EXPECT_FALSE(ErrorOf(GetBlob(*team, data_hash)).has_value());
  EXPECT_FALSE(ErrorOf(GetBlob(*team, model_hash)).has_value());
  EXPECT_TRUE(net.scheduler().Running());
}

}  // namespace
}  // namespace plume::itest
