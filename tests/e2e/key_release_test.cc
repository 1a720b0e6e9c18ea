// Key release end to end (docs/data-owners.md "Key release"): a real plume-scheduler with its
// ledger, real plume-agent processes and the owner's real `plume data serve` on loopback.
//  - An encrypted dataset trains to the end and pays its royalties; the release log and the
//    ledger's data_access records (`plume data access`) match one to one; no file the scheduler
//    or any agent wrote, nor their logs, holds a piece of the plaintext.
//  - kill -9 of the key service mid-job: the agent's task fails retryable, and once the service
//    is back the job finishes.
//  - With replay audits on, the auditing agent gets its own grant and its own ledger record.
#include "key_release_fixture.h"

namespace plume::itest {
namespace {

// A release log line's or a `plume data access` record's grant: (task, attempt, agent).
std::string GrantOf(const json& j) {
  return j["task"].get<std::string>() + "/" + std::to_string(j["attempt"].get<int>()) + "/" +
         j["agent"].get<std::string>();
}

TEST_F(KeyReleaseE2E, EncryptedDatasetTrainsPaysAndEveryReleaseIsInTheLedger) {
  std::string why;
  ASSERT_TRUE(net_.StartAgent("a", &why, {"--price", "1000000000000"})) << why;
  ASSERT_TRUE(net_.StartAgent("b", &why, {"--price", "1000000000000"})) << why;
  ASSERT_TRUE(net_.WaitActiveNodes(2, 30s)) << net_.Logs();
  const int rounds = 2;
  const std::string job = Submit(rounds);
  ASSERT_FALSE(job.empty());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, 180s);
  ASSERT_TRUE(done) << net_.Logs();
  ASSERT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs() << ReadFile(service_log());

  // Royalties: one leg per settle of the job, the figure the spec gives.
  const uint64_t tokens = uint64_t{3} * 8 * 32;
  const int64_t per_task = static_cast<int64_t>(tokens * kRate / 1'000'000);
  auto history = paid_.History(&why);
  ASSERT_TRUE(history) << why;
  int settles = 0;
  for (const json& e : *history) {
    if (e["type"] != "settle" || e["job"] != job) continue;
    ++settles;
    ASSERT_EQ(e["legs"].size(), 1u) << e.dump();
    EXPECT_EQ(e["legs"][0]["account"], "team:" + owner_id_);
    EXPECT_EQ(e["legs"][0]["amount_micro_plume"], per_task) << e.dump();
  }
  EXPECT_EQ(settles, rounds);

  // Every release has its ledger record and every record its release: the same grants, the same
  // (job, task, attempt, agent); each went to one of the network's agents.
  const std::vector<json> releases = LogLines("release");
  ASSERT_GE(releases.size(), static_cast<size_t>(rounds)) << ReadFile(release_log());
  const json access = Access();
  std::set<std::string> from_log, from_ledger;
  const std::set<std::string> agents{net_.agent_id("a"), net_.agent_id("b")};
  for (const json& r : releases) {
    EXPECT_EQ(r["job"], job);
    EXPECT_TRUE(agents.count(r["agent"].get<std::string>())) << r.dump();
    from_log.insert(GrantOf(r));
  }
  for (const json& a : access) from_ledger.insert(GrantOf(a));
  EXPECT_EQ(from_log, from_ledger) << ReadFile(release_log()) << access.dump();
  EXPECT_EQ(access.size(), from_ledger.size());

  // No plaintext in anything the scheduler or either agent wrote (the scan finds it in the
  // owner's own file, so it would find a copy).
  EXPECT_EQ(FilesWithMarker(net_.dir().path() / "secret.txt").size(), 1u);
  EXPECT_EQ(PlaintextOutsideTheOwner({"a", "b"}), std::vector<std::string>{});
  CommandResult verify = net_.Cli({"ledger", "verify", paid_.ledger_dir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
}

TEST_F(KeyReleaseE2E, KeyServiceKilledMidJobTheJobFinishesOnceItIsBack) {
  std::string why;
  ASSERT_TRUE(net_.StartAgent("a", &why, {"--price", "1000000000000"})) << why;
  ASSERT_TRUE(net_.WaitActiveNodes(1, 30s)) << net_.Logs();
  const std::string job = Submit(4);  // rounds enough that some start after the kill
  ASSERT_FALSE(job.empty());
  // Round 0's key is released; then the service dies without a word.
  for (int i = 0; i < 600 && LogLines("release").empty(); ++i) std::this_thread::sleep_for(100ms);
  ASSERT_FALSE(LogLines("release").empty()) << net_.Logs() << ReadFile(service_log());
  service_->Signal(SIGKILL);
  (void)service_->Wait(5000ms);
  // A later round's task cannot get its key: the agent reports a retryable failure, not a crash.
  for (int i = 0; i < 900 && !net_.AgentLogHas("a", "no data key for dataset"); ++i) {
    std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(net_.AgentLogHas("a", "no data key for dataset")) << net_.Logs();
  EXPECT_TRUE(net_.agent("a").Running());
  ASSERT_TRUE(StartService()) << ReadFile(service_log());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, 240s);
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs() << ReadFile(service_log());
  // Across the kill and the restart: every released grant has its ledger record (the one the
  // release line names), no grant has two, and each record was written ahead in the log first.
  // A record may lack a release: a kill between the ledger's answer and the release line leaves
  // one, and the agent's retry then asks with a fresh grant.
  const json access = Access();
  std::set<uint64_t> recorded;
  std::set<std::string> grants;
  for (const json& a : access) {
    recorded.insert(a["index"].get<uint64_t>());
    grants.insert(GrantOf(a));
  }
  EXPECT_EQ(grants.size(), access.size()) << access.dump();
  const std::vector<json> released = LogLines("release");
  ASSERT_FALSE(released.empty());
  for (const json& r : released) {
    EXPECT_TRUE(recorded.count(r["index"].get<uint64_t>())) << r.dump() << access.dump();
  }
  std::set<std::string> intents;
  for (const json& r : LogLines("intent")) intents.insert(r["grant_key"].get<std::string>());
  EXPECT_LE(access.size(), intents.size()) << access.dump() << ReadFile(release_log());
  EXPECT_EQ(PlaintextOutsideTheOwner({"a"}), std::vector<std::string>{});
}

// Replay audits read the data too: a new provider's result is re-run by the other agent, which
// gets a grant of its own for the audit run, and that release is in the ledger like the first.
class KeyReleaseAuditE2E : public KeyReleaseE2E {
 protected:
  bool Audits() const override { return true; }
};

TEST_F(KeyReleaseAuditE2E, AReplayAuditOfAnEncryptedTaskGetsItsOwnGrant) {
  std::string why;
  ASSERT_TRUE(net_.StartAgent("a", &why, {"--price", "1000000000000"})) << why;
  ASSERT_TRUE(net_.StartAgent("b", &why, {"--price", "1000000000000"})) << why;
  ASSERT_TRUE(net_.WaitActiveNodes(2, 30s)) << net_.Logs();
  const std::string job = Submit(1);
  ASSERT_FALSE(job.empty());
  const auto agents_released = [&] {
    std::set<std::string> agents;
    for (const json& r : LogLines("release")) agents.insert(r["agent"].get<std::string>());
    return agents;
  };
  for (int i = 0; i < 1200 && agents_released().size() < 2; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(agents_released(),
            (std::set<std::string>{net_.agent_id("a"), net_.agent_id("b")}))
      << net_.Logs() << ReadFile(service_log());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, 180s);
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();
  EXPECT_TRUE(net_.AgentLogHas("a", "decrypted in memory"));
  EXPECT_TRUE(net_.AgentLogHas("b", "decrypted in memory"));
  std::set<std::string> logged, recorded;
  for (const json& r : LogLines("release")) {
    logged.insert(r["task"].get<std::string>() + "/" + r["agent"].get<std::string>());
  }
  for (const json& a : Access()) {
    recorded.insert(a["task"].get<std::string>() + "/" + a["agent"].get<std::string>());
  }
  EXPECT_EQ(logged, recorded);
  EXPECT_EQ(PlaintextOutsideTheOwner({"a", "b"}), std::vector<std::string>{});
}

}  // namespace
}  // namespace plume::itest
