// Lineage end to end (issue 14 item 4; docs/data-owners.md "Lineage"): a real plume-scheduler
// with the ledger on, two real plume-agent processes and the real plume CLI on loopback.
//  - An owner publishes a clear dataset; a team trains a two-round job on it, fetches the model,
//    and runs an inference job on that model file.
//  - `plume lineage OUTPUT --json`, from nothing but the ledger directory, goes from the
//    inference output to the model, the training job's two rounds (each a checkpoint entry),
//    their workers' settled receipts, the dataset and its owner, naming the provider of every
//    step; every cited entry is proven against the signed head, and it verifies.
//  - `plume audit` of the inference job (and of the training job) runs the same chain and passes.
//  - It fails (exit 1) for a blob no entry produced, and under another ledger key.
#include <gtest/gtest.h>

#include <set>

#include "network.h"
#include "paid_network.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kPrice = 1'000'000'000'000;

class LineageE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    owner_id_ = MakeKey(net_.dir() / "keys" / "owner.key");
    std::string why;
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    ASSERT_EQ(paid_.Mint("mint:team", 50'000'000'000, paid_.operator_key()).exit_code, 0);
    for (const std::string name : {"a", "b"}) {
      ASSERT_TRUE(net_.StartAgent(name, &why, {"--price", std::to_string(kPrice)})) << why;
      auto id = Identity::Load(paid_.AgentKey(name));
      ASSERT_TRUE(id) << net_.Logs();
      providers_.insert(ToHex(id->public_key()));
    }
    ASSERT_TRUE(net_.WaitActiveNodes(2, seconds(30))) << net_.Logs();
  }
  std::string Succeeded(const std::string& job) {
    auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(150));
    EXPECT_TRUE(done) << net_.Logs();
    if (!done) return "";
    EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();
    return (*done)["state"];
  }
  CommandResult Lineage(const std::string& target, std::vector<std::string> more = {}) {
    std::vector<std::string> args = {"lineage", target, "--ledger-dir", paid_.ledger_dir()};
    args.insert(args.end(), more.begin(), more.end());
    return net_.Cli(args);
  }

  Network net_{"lineage"};
  PaidNetwork paid_{net_};
  std::string owner_id_;
  std::set<std::string> providers_;
};

TEST_F(LineageE2E, AnInferenceOutputReachesTheDatasetItsOwnerAndTheProvidersAndVerifies) {
  // The owner's dataset, in the clear, with a royalty.
  const fs::path text = WriteTrainingText(net_.dir().path(), 6000);
  std::string why;
  auto published = net_.CliJson({"data", "publish", text.string(), "--royalty", "1000000000",
                                 "--key", (net_.dir() / "keys" / "owner.key").string(),
                                 "--keys-dir", (net_.dir() / "owner-keys").string(), "--json"},
                                &why);
  ASSERT_TRUE(published) << net_.Logs();
  const std::string dataset = published->value("dataset", "");
  ASSERT_EQ(dataset.size(), 32u) << published->dump();

  // The team trains on it: two rounds, so the chain has a round before the last.
  TrainShape shape;
  shape.workers = 1;
  shape.rounds = 2;
  shape.local_steps = 2;
  const fs::path spec =
      paid_.WriteSpec("train", WriteTrainingText(net_.dir().path(), 4096), shape, kPrice);
  auto ack = net_.CliJson({"submit", spec.string(), "--dataset", dataset}, &why);
  ASSERT_TRUE(ack) << why << net_.Logs();
  const std::string train = ack->value("job_id", "");
  ASSERT_EQ(Succeeded(train), "succeeded");
  const fs::path out = net_.dir() / "model";
  CommandResult fetch = net_.Cli({"fetch", train, "-o", out.string()});
  ASSERT_EQ(fetch.exit_code, 0) << fetch.err;
  const fs::path model = out / "model.safetensors";
  const std::string model_hash = ToHex(Blake2b256(ReadFile(model)));

  // Inference on the model file the team fetched (uploaded again: the same bytes, the same hash).
  const fs::path infer_spec = PaidNetwork::SetMaxPrice(
      WriteInferSpec(net_.dir().path(), "gen", model, {"ROMEO:", "JULIET:"}, 1, 7, 4), kPrice);
  const std::string infer = paid_.Submit(infer_spec);
  ASSERT_FALSE(infer.empty()) << net_.Logs();
  ASSERT_EQ(Succeeded(infer), "succeeded");
  auto history = paid_.History(&why);
  ASSERT_TRUE(history) << why;
  std::string output;
  int checkpoints = 0;
  for (const json& e : *history) {
    if (e["type"] == "settle" && e["job"] == infer) output = e["receipt"]["output"];
    if (e["type"] == "checkpoint" && e["job"] == train) {
      ++checkpoints;
      EXPECT_EQ(e["checkpoint"]["final"], e["checkpoint"]["round"] == shape.rounds - 1) << e.dump();
      if (e["checkpoint"]["final"]) EXPECT_EQ(e["checkpoint"]["params_out"], model_hash);
    }
  }
  ASSERT_FALSE(output.empty()) << history->dump();
  EXPECT_EQ(checkpoints, shape.rounds);

  CommandResult traced = Lineage(output, {"--json"});
  ASSERT_EQ(traced.exit_code, 0) << traced.out << traced.err;
  const json l = json::parse(traced.out);
  EXPECT_TRUE(l["verified"]) << l.dump();
  EXPECT_EQ(l["job"], infer);
  EXPECT_EQ(l["proofs"], l["entries"].size());
  ASSERT_EQ(l["outputs"].size(), 1u) << l.dump();
  EXPECT_TRUE(providers_.contains(l["outputs"][0]["provider"])) << l.dump();
  EXPECT_EQ(l["outputs"][0]["inputs"][0], model_hash);
  EXPECT_EQ(l["model"]["checkpoint"], model_hash);
  EXPECT_EQ(l["model"]["job"], train);
  ASSERT_EQ(l["model"]["rounds"].size(), 2u) << l.dump();
  EXPECT_EQ(l["model"]["rounds"][0]["round"], 1);
  EXPECT_TRUE(l["model"]["rounds"][0]["final"]);
  EXPECT_EQ(l["model"]["rounds"][0]["params_in"], l["model"]["rounds"][1]["params_out"]);
  const uint64_t tokens = uint64_t{2} * 8 * 32;  // local_steps x batch x seq_len, one worker
  for (const json& round : l["model"]["rounds"]) {
    ASSERT_EQ(round["workers"].size(), 1u) << round.dump();
    const json& w = round["workers"][0];
    EXPECT_EQ(w["job"], train);
    EXPECT_TRUE(w["settled"]);
    EXPECT_TRUE(providers_.contains(w["provider"])) << w.dump();
    ASSERT_EQ(w["datasets"].size(), 1u) << w.dump();
    EXPECT_EQ(w["datasets"][0]["dataset"], dataset);
    EXPECT_EQ(w["datasets"][0]["owner"], owner_id_);
    EXPECT_EQ(w["datasets"][0]["tokens"], tokens);
  }
  // The job id gives the same chain; so does the model itself (from the checkpoint down).
  CommandResult by_job = Lineage(infer, {"--json"});
  ASSERT_EQ(by_job.exit_code, 0) << by_job.out << by_job.err;
  EXPECT_EQ(json::parse(by_job.out)["entries"], l["entries"]);
  CommandResult by_model = Lineage(model_hash);
  EXPECT_EQ(by_model.exit_code, 0) << by_model.out << by_model.err;
  EXPECT_NE(by_model.out.find("VERIFIED"), std::string::npos) << by_model.out;
  EXPECT_NE(by_model.out.find(owner_id_), std::string::npos) << by_model.out;

  // `plume audit` runs the same chain for the inference job and for the training job.
  for (const std::string& job : {infer, train}) {
    CommandResult audit =
        net_.Cli({"audit", job, "--ledger-dir", paid_.ledger_dir(), "--json"});
    ASSERT_EQ(audit.exit_code, 0) << audit.out << audit.err;
    const json a = json::parse(audit.out);
    EXPECT_TRUE(a["lineage"]["verified"]) << a.dump();
    EXPECT_EQ(a["lineage"]["entries"].size(), l["entries"].size() - (job == train ? 1 : 0))
        << a.dump();
  }

  // A blob nothing in the ledger produced, and the right chain under another ledger key: exit 1.
  CommandResult unknown = Lineage(ToHex(Blake2b256("never produced")));
  EXPECT_EQ(unknown.exit_code, 1) << unknown.out << unknown.err;
  EXPECT_NE(unknown.out.find("no entry of this ledger produced"), std::string::npos)
      << unknown.out;
  CommandResult other_key = Lineage(output, {"--ledger-id", owner_id_});
  EXPECT_EQ(other_key.exit_code, 1) << other_key.out << other_key.err;
  EXPECT_NE(other_key.out.find("inclusion proof does not verify"), std::string::npos)
      << other_key.out;
  CommandResult audit_other = net_.Cli(
      {"audit", infer, "--ledger-dir", paid_.ledger_dir(), "--ledger-id", owner_id_});
  EXPECT_EQ(audit_other.exit_code, 1) << audit_other.out << audit_other.err;
}

}  // namespace
}  // namespace plume::itest
