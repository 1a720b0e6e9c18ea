// Data owners end to end (docs/data-owners.md): a real plume-scheduler with the ledger on and
// the real plume CLI on loopback, with three keys: a data owner, a team the owner's terms name,
// and a stranger they do not.
//  - The owner publishes a clear dataset for that team only, and an encrypted one; the terms are
//    public and proven (`plume data show`); the owner's key files stay 0600 on the owner's side.
//  - The stranger is refused at quote and submit; the named team is accepted and its job holds
//    its escrow. Nobody but the owner can revoke; once revoked, new jobs are refused while the
//    job accepted before is still there.
//  - Nothing the scheduler wrote holds the encrypted dataset's plaintext (every file under its
//    data directory is scanned for a marker the plaintext repeats), before and after a job on it
//    is accepted (key_release_test.cc trains on one).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "marked_text.h"
#include "network.h"
#include "paid_network.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadText(const fs::path& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class DataOwnersE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    owner_id_ = MakeKey(owner_key());
    stranger_id_ = MakeKey(stranger_key());
    std::string why;
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    CommandResult mint = paid_.Mint("mint:team", 50'000'000'000, paid_.operator_key());
    ASSERT_EQ(mint.exit_code, 0) << mint.out << mint.err << net_.Logs();
  }
  fs::path owner_key() const { return net_.dir() / "keys" / "owner.key"; }
  fs::path stranger_key() const { return net_.dir() / "keys" / "stranger.key"; }
  fs::path keys_dir() const { return net_.dir() / "owner-data-keys"; }
  CommandResult As(const fs::path& key, std::vector<std::string> args) {
    args.insert(args.end(), {"--key", key.string()});
    return net_.Cli(args);
  }
  json Publish(std::vector<std::string> args) {
    args.insert(args.begin(), {"data", "publish"});
    args.insert(args.end(), {"--keys-dir", keys_dir().string(), "--json"});
    CommandResult r = As(owner_key(), args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err << net_.Logs();
    return r.exit_code == 0 ? json::parse(r.out) : json::object();
  }
  json Show(const std::string& id) {
    CommandResult r = As(stranger_key(), {"data", "show", id, "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return r.exit_code == 0 ? json::parse(r.out) : json::object();
  }
  fs::path Spec(const std::string& name) {
    TrainShape shape;
    shape.workers = 1;
    shape.rounds = 1;
    shape.local_steps = 2;
    return paid_.WriteSpec(name, WriteTrainingText(net_.dir().path(), 4096), shape,
                           1'000'000'000'000);
  }

  // A QuoteJob sent straight over the protocol with `key`, naming `ref_name` -> `hash`, as a
  // client that skips the CLI's own checks would: the scheduler's answer ("" when it quoted).
  std::string RawQuote(const fs::path& key, const fs::path& spec, const std::string& ref_name,
                       const Hash256& hash) {
    auto id = Identity::Load(key);
    auto server = PublicKeyFromHex(net_.scheduler_id());
    if (!id || !server) return "no key";
    auto c = TransportClient::Connect(net_.endpoint(), *server, *id);
    if (!c) return "no connection";
    auto req = (*c)->NewRequest();
    auto q = req.body().initQuoteJob();
    q.setSpecToml(ReadText(spec));
    auto ref = q.initDataBlobs(1)[0];
    ref.setName(ref_name);
    ref.setHash(AsData(hash));
    auto reply = (*c)->Call(req, std::chrono::seconds(10));
    if (!reply) return "no reply: " + reply.error().message;
    if (reply->kind() != MessageKind::ERROR) return "";
    return reply->body().getError().getMessage().cStr();
  }

  Network net_{"dataowners"};
  PaidNetwork paid_{net_};
  std::string owner_id_;
  std::string stranger_id_;
  std::string why_;
};

TEST_F(DataOwnersE2E, TermsDecideWhoTrainsAndRevokingStopsNewJobs) {
  const fs::path text = WriteMarkedText(net_.dir().path(), "clear.txt", 200);
  const std::string team_id = paid_.team().substr(5);  // "team:<client id>"
  const json clear = Publish({text.string(), "--teams", team_id, "--royalty", "1500", "--name",
                              "owner corpus"});
  const std::string id = clear.value("dataset", "");
  ASSERT_EQ(id.size(), 32u) << clear.dump();

  // The terms are public and proven against the signed head, exactly as signed.
  const json shown = Show(id);
  EXPECT_EQ(shown["owner"], owner_id_);
  EXPECT_EQ(shown["teams"], json::array({team_id}));
  EXPECT_EQ(shown["royalty_micro_plume_per_mtoken"], 1500);
  EXPECT_EQ(shown["tokens"], fs::file_size(text));
  EXPECT_FALSE(shown["revoked"].get<bool>());
  EXPECT_FALSE(shown["encrypted"].get<bool>());
  // An id nobody published.
  CommandResult unknown = As(stranger_key(), {"data", "show", std::string(32, 'a')});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.out << unknown.err;

  // The stranger is outside the terms: refused at quote and at submit, with the reason.
  const fs::path spec = Spec("on-dataset");
  CommandResult quote = As(stranger_key(), {"quote", spec.string(), "--dataset", id});
  EXPECT_NE(quote.exit_code, 0) << quote.out << quote.err;
  EXPECT_NE(quote.err.find("do not allow your team"), std::string::npos) << quote.err;
  CommandResult submit = As(stranger_key(), {"submit", spec.string(), "--dataset", id, "--json"});
  EXPECT_NE(submit.exit_code, 0) << submit.out << submit.err;
  EXPECT_NE(submit.err.find("do not allow your team"), std::string::npos) << submit.err;

  // The same, straight to the scheduler: it checks the terms itself. A ref that names the
  // dataset with another blob, or a malformed id, is refused too.
  auto blob = HashFromHex(shown["blob"].get<std::string>());
  ASSERT_TRUE(blob.has_value());
  EXPECT_NE(RawQuote(stranger_key(), spec, "dataset:" + id, *blob).find("do not allow your team"),
            std::string::npos);
  EXPECT_EQ(RawQuote(net_.client_key(), spec, "dataset:" + id, *blob), "");
  EXPECT_NE(RawQuote(net_.client_key(), spec, "dataset:" + id, Blake2b256("other"))
                .find("another blob"),
            std::string::npos);
  EXPECT_NE(RawQuote(net_.client_key(), spec, "dataset:" + id.substr(1), *blob)
                .find("does not name a dataset"),
            std::string::npos);

  // The named team is accepted, and its job holds its escrow.
  std::string why;
  auto ack = net_.CliJson({"submit", spec.string(), "--dataset", id}, &why);
  ASSERT_TRUE(ack) << why << net_.Logs();
  const std::string job = ack->value("job_id", "");
  ASSERT_FALSE(job.empty());
  auto status = net_.WaitJobState(job, {"queued", "running"}, std::chrono::seconds(30));
  ASSERT_TRUE(status) << net_.Logs();

  // Only the owner revokes.
  CommandResult forged = As(stranger_key(), {"data", "revoke", id});
  EXPECT_EQ(forged.exit_code, 1) << forged.out << forged.err;
  EXPECT_NE(forged.err.find("bad_signature"), std::string::npos) << forged.err;
  EXPECT_FALSE(Show(id)["revoked"].get<bool>());
  CommandResult revoke = As(owner_key(), {"data", "revoke", id, "--json"});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.out << revoke.err;
  EXPECT_TRUE(Show(id)["revoked"].get<bool>());

  // Revoked: a new job is refused, by the CLI's look at the terms and by the scheduler itself.
  EXPECT_NE(RawQuote(net_.client_key(), spec, "dataset:" + id, *blob).find("revoked"),
            std::string::npos);
  CommandResult after = net_.Cli({"submit", Spec("after-revoke").string(), "--dataset", id});
  EXPECT_NE(after.exit_code, 0) << after.out << after.err;
  EXPECT_NE(after.err.find("revoked"), std::string::npos) << after.err;
  // The job accepted before keeps its place.
  auto still = net_.CliJson({"status", job}, &why);
  ASSERT_TRUE(still) << why;
  EXPECT_NE((*still)["state"], "failed") << still->dump();
  EXPECT_NE((*still)["state"], "cancelled") << still->dump();

  // The owner's list shows it, revoked.
  auto mine = net_.CliJson({"data", "list", "--key", owner_key().string()}, &why);
  ASSERT_TRUE(mine) << why;
  ASSERT_EQ(mine->size(), 1u) << mine->dump();
  EXPECT_EQ((*mine)[0]["dataset"], id);
  EXPECT_TRUE((*mine)[0]["revoked"].get<bool>());
}

TEST_F(DataOwnersE2E, TheSchedulerNeverHoldsAnEncryptedDatasetsPlaintext) {
  const fs::path text = WriteMarkedText(net_.dir().path(), "secret.txt", 2000);
  const json secret = Publish({text.string(), "--encrypt", "--key-service", "tcp://127.0.0.1:7700",
                               "--royalty", "10"});
  const std::string id = secret.value("dataset", "");
  ASSERT_EQ(id.size(), 32u) << secret.dump();
  EXPECT_TRUE(Show(id)["encrypted"].get<bool>());
  EXPECT_GT(secret["bytes"].get<uint64_t>(), 0u);

  // The key stayed with the owner, owner-only.
  const fs::path key = keys_dir() / (id + ".key");
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0) << key;
  EXPECT_EQ(st.st_mode & 077, 0u);

  // Every file the scheduler wrote (blobs, database, ledger, logs): no plaintext. The check is
  // shown to work on the clear file itself.
  EXPECT_EQ(FilesWithMarker(net_.dir().path() / "secret.txt").size(), 1u);
  const fs::path scheduler_dir = net_.dir().path() / "scheduler-data";
  ASSERT_TRUE(fs::exists(scheduler_dir));
  EXPECT_EQ(FilesWithMarker(scheduler_dir), std::vector<std::string>{});
  EXPECT_EQ(FilesWithMarker(net_.scheduler_log()), std::vector<std::string>{});

  // A team may submit a job on it: its tasks carry data-key grants (key_release_test.cc trains
  // one end to end); the scheduler still never holds the plaintext.
  auto ack = net_.CliJson({"submit", Spec("on-secret").string(), "--dataset", id}, &why_);
  ASSERT_TRUE(ack) << why_ << net_.Logs();
  EXPECT_EQ(FilesWithMarker(scheduler_dir), std::vector<std::string>{});
}

}  // namespace
}  // namespace plume::itest

namespace plume::itest {
namespace {

// Royalties end to end: an agent trains a paid job on a clear dataset; every settle of the job's
// own tasks carries one royalty leg to the owner, equal to the figure this test computes from the
// spec (local_steps x batch x seq_len tokens per task, x the rate / 1e6, rounded down); the
// owner's balance and `plume data earnings` add up to exactly those legs, and the ledger verifies
// offline (which recomputes every leg from the published terms).
TEST_F(DataOwnersE2E, RoyaltiesInTheLedgerAreTheFiguresTheSpecGives) {
  constexpr uint64_t kRate = 1'000'000'000;  // micro-PLUME per million tokens
  const fs::path text = WriteMarkedText(net_.dir().path(), "paid.txt", 400);
  const json published = Publish({text.string(), "--royalty", std::to_string(kRate)});
  const std::string id = published.value("dataset", "");
  ASSERT_EQ(id.size(), 32u) << published.dump();
  const int64_t owner_before = paid_.Balance("team:" + owner_id_);

  std::string why;
  ASSERT_TRUE(net_.StartAgent("a", &why, {"--price", "1000000000000"})) << why;
  ASSERT_TRUE(net_.WaitActiveNodes(1, std::chrono::seconds(30))) << net_.Logs();
  TrainShape shape;
  shape.workers = 1;
  shape.rounds = 2;
  shape.local_steps = 3;
  const fs::path spec = paid_.WriteSpec("royalty", WriteTrainingText(net_.dir().path(), 4096),
                                        shape, 1'000'000'000'000);
  auto ack = net_.CliJson({"submit", spec.string(), "--dataset", id}, &why);
  ASSERT_TRUE(ack) << why << net_.Logs();
  const std::string job = ack->value("job_id", "");
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"},
                                std::chrono::seconds(150));
  ASSERT_TRUE(done) << net_.Logs();
  ASSERT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();

  // From the spec alone.
  const uint64_t tokens = uint64_t{3} * static_cast<uint64_t>(shape.batch) *
                          static_cast<uint64_t>(shape.seq_len);
  const int64_t per_task = static_cast<int64_t>(tokens * kRate / 1'000'000);
  ASSERT_GT(per_task, 0);

  auto history = paid_.History(&why);
  ASSERT_TRUE(history) << why;
  int settles = 0;
  int64_t royalties = 0;
  for (const json& e : *history) {
    if (e["type"] != "settle" || e["job"] != job) continue;
    ++settles;
    ASSERT_TRUE(e.contains("legs")) << e.dump();
    ASSERT_EQ(e["legs"].size(), 1u) << e.dump();
    EXPECT_EQ(e["legs"][0]["kind"], "royalty");
    EXPECT_EQ(e["legs"][0]["account"], "team:" + owner_id_);
    EXPECT_EQ(e["legs"][0]["amount_micro_plume"], per_task) << e.dump();
    EXPECT_EQ(e["royalty_claims"][0]["dataset"], id);
    EXPECT_EQ(e["royalty_claims"][0]["tokens"], tokens);
    royalties += e["legs"][0]["amount_micro_plume"].get<int64_t>();
  }
  EXPECT_EQ(settles, shape.workers * shape.rounds);
  EXPECT_EQ(royalties, per_task * settles);
  EXPECT_EQ(paid_.Balance("team:" + owner_id_) - owner_before, royalties);
  auto earned = net_.CliJson({"data", "earnings", "--key", owner_key().string()}, &why);
  ASSERT_TRUE(earned) << why;
  EXPECT_EQ((*earned)["total_micro_plume"], royalties);
  EXPECT_EQ((*earned)["datasets"][id]["tokens"], tokens * static_cast<uint64_t>(settles));
  CommandResult verify = net_.Cli({"ledger", "verify", paid_.ledger_dir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

}  // namespace
}  // namespace plume::itest
