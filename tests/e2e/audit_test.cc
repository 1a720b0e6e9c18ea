// `plume audit JOB` end to end, with real processes on loopback: plume-scheduler with the
// ledger on, two plume-agent, the plume CLI. A funded two-round training job over both agents
// succeeds; its audit checks the ledger and, from the scheduler, the spec hash (against the
// spec file), the data its receipts read, the round chain, every checkpoint and delta by hash,
// a replay of every round's outer step, and the final model, and says VERIFIED (exit 0).
// Then each way the audit must not pass: another spec file (exit 1, naming the spec hash); a
// worker delta and then a round checkpoint corrupted on the scheduler's disk (exit 1, naming the
// round; the restored blob verifies again); no scheduler named (the ledger alone, said so, never
// VERIFIED; exit 1 with --require-provenance); a named scheduler that does not answer (exit 1).
// An inference job over two shards: each output shard is a paid receipt's output, its receipts
// read only the job's checkpoint, and the round checks are n/a.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "network.h"
#include "paid_network.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class AuditE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    ASSERT_TRUE(net_.StartAgent("a", &why, {"--price", std::to_string(kPrice)})) << why;
    ASSERT_TRUE(net_.StartAgent("b", &why, {"--price", std::to_string(kPrice)})) << why;
    ASSERT_TRUE(net_.WaitActiveNodes(2, seconds(60))) << net_.Logs();
    CommandResult mint = paid_.Mint("mint:audit", 120'000'000, paid_.operator_key());
    ASSERT_EQ(mint.exit_code, 0) << mint.out << mint.err << net_.Logs();
  }

  std::vector<std::string> AuditArgs(const std::string& job) const {
    return {"audit", job, "--ledger-dir", paid_.ledger_dir(), "--ledger-id", net_.scheduler_id()};
  }
  CommandResult Audit(std::vector<std::string> args,
                      const std::map<std::string, std::string>& env = {}) const {
    return net_.Cli(args, seconds(60), env);
  }
  // The status of each provenance check in `plume audit --json`.
  static std::map<std::string, std::string> Statuses(const json& audit) {
    std::map<std::string, std::string> out;
    for (const json& c : audit["provenance"]["checks"]) out[c["name"]] = c["status"];
    return out;
  }
  fs::path BlobPath(const std::string& hex) const {
    return net_.dir() / "scheduler-data" / "blobs" / hex.substr(0, 2) / hex.substr(2);
  }
  // Flips one byte in the middle of a stored blob; returns the original bytes.
  std::string Corrupt(const std::string& hex) const {
    const fs::path p = BlobPath(hex);
    std::ifstream in(p, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_FALSE(bytes.empty()) << p;
    std::string bad = bytes;
    if (!bad.empty()) bad[bad.size() / 2] ^= 0x5a;
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bad;
    return bytes;
  }
  void Restore(const std::string& hex, const std::string& bytes) const {
    std::ofstream(BlobPath(hex), std::ios::binary | std::ios::trunc) << bytes;
  }

  static constexpr uint64_t kPrice = 1'500'000'000'000;     // micro-PLUME per PFLOP
  static constexpr uint64_t kMaxPrice = 2'500'000'000'000;  // the job's cap
  Network net_{"audit"};
  PaidNetwork paid_{net_};
  fs::path data_ = WriteTrainingText(net_.dir().path(), 20'000);
};

TEST_F(AuditE2E, ProvenanceOfATrainingJobIsVerifiedAndEveryTamperingFails) {
  TrainShape shape;
  shape.rounds = 2;
  shape.local_steps = 5;
  const fs::path spec = paid_.WriteSpec("audited", data_, shape, kMaxPrice);
  const std::string job = paid_.Submit(spec);
  ASSERT_FALSE(job.empty());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(90));
  ASSERT_TRUE(done) << net_.Logs();
  ASSERT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();

  // Verified: the ledger and every provenance check, the replay included.
  std::vector<std::string> args = AuditArgs(job);
  args.insert(args.end(), {"--spec", spec.string(), "--json"});
  CommandResult ok = Audit(args);
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err << net_.Logs();
  const json a = json::parse(ok.out);
  EXPECT_TRUE(a["verified"].get<bool>()) << a.dump();
  EXPECT_EQ(a["verdict"], "VERIFIED");
  EXPECT_TRUE(a["provenance"]["checked"].get<bool>());
  // No dispute, so no evidence blob to recompute a verdict from.
  const std::map<std::string, std::string> want = {
      {"spec", "ok"},   {"data", "ok"},   {"rounds", "ok"},
      {"checkpoints", "ok"}, {"replay", "ok"}, {"output", "ok"},
      {"evidence", "not_applicable"}};
  EXPECT_EQ(Statuses(a), want) << a["provenance"].dump(2);
  const json& rounds = a["provenance"]["record"]["rounds"];
  ASSERT_EQ(rounds.size(), 2u) << a.dump();
  ASSERT_EQ(rounds[1]["deltas"].size(), 2u) << a.dump();  // both agents' work was averaged
  EXPECT_EQ(rounds[1]["params_in"], rounds[0]["params_out"]);
  CommandResult text = Audit(AuditArgs(job));
  EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_NE(text.out.find("replay       ok"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("\nVERIFIED: " + job), std::string::npos) << text.out;

  // Another spec file: the spec hash does not match.
  const fs::path other = net_.dir() / "other.toml";
  std::ofstream(other) << "# not the job's spec\n";
  args = AuditArgs(job);
  args.insert(args.end(), {"--spec", other.string()});
  CommandResult wrong_spec = Audit(args);
  EXPECT_EQ(wrong_spec.exit_code, 1) << wrong_spec.out << wrong_spec.err;
  EXPECT_NE(wrong_spec.out.find("PROBLEM: spec hash"), std::string::npos) << wrong_spec.out;
  EXPECT_NE(wrong_spec.out.find("\nFAILED: " + job), std::string::npos) << wrong_spec.out;

  // A worker delta of round 1 corrupted on the scheduler's disk.
  const std::string delta = rounds[1]["deltas"][0];
  std::string original = Corrupt(delta);
  CommandResult bad_delta = Audit(AuditArgs(job));
  EXPECT_EQ(bad_delta.exit_code, 1) << bad_delta.out << bad_delta.err;
  EXPECT_NE(bad_delta.out.find("PROBLEM: round 1: delta 0"), std::string::npos) << bad_delta.out;
  Restore(delta, original);
  EXPECT_EQ(Audit(AuditArgs(job)).exit_code, 0);

  // Round 0's checkpoint (round 1's start) corrupted.
  const std::string checkpoint = rounds[0]["params_out"];
  original = Corrupt(checkpoint);
  CommandResult bad_round = Audit(AuditArgs(job));
  EXPECT_EQ(bad_round.exit_code, 1) << bad_round.out << bad_round.err;
  EXPECT_NE(bad_round.out.find("PROBLEM: round 0: its output checkpoint"), std::string::npos)
      << bad_round.out;
  Restore(checkpoint, original);

  // No scheduler named: the ledger alone, and the verdict says so.
  CommandResult offline = Audit(AuditArgs(job), {{"PLUME_SCHEDULER", ""}});
  EXPECT_EQ(offline.exit_code, 0) << offline.out << offline.err;
  EXPECT_NE(offline.out.find("provenance not checked: no scheduler given"), std::string::npos)
      << offline.out;
  EXPECT_NE(offline.out.find("LEDGER VERIFIED, PROVENANCE NOT CHECKED"), std::string::npos);
  EXPECT_EQ(offline.out.find("\nVERIFIED"), std::string::npos) << offline.out;
  args = AuditArgs(job);
  args.push_back("--json");
  CommandResult offline_json = Audit(args, {{"PLUME_SCHEDULER", ""}});
  ASSERT_EQ(offline_json.exit_code, 0) << offline_json.out << offline_json.err;
  const json o = json::parse(offline_json.out);
  EXPECT_FALSE(o["verified"].get<bool>());
  EXPECT_FALSE(o["provenance"]["checked"].get<bool>());
  args = AuditArgs(job);
  args.push_back("--require-provenance");
  EXPECT_EQ(Audit(args, {{"PLUME_SCHEDULER", ""}}).exit_code, 1);

  // A scheduler named but not answering.
  CommandResult unreachable = Audit(
      AuditArgs(job), {{"PLUME_SCHEDULER", "tcp://127.0.0.1:9"}, {"PLUME_TIMEOUT_MS", "1000"}});
  EXPECT_EQ(unreachable.exit_code, 1) << unreachable.out << unreachable.err;
  EXPECT_NE(unreachable.out.find("provenance not checked:"), std::string::npos) << unreachable.out;
}

TEST_F(AuditE2E, AnInferenceJobsShardsAreTheOutputsOfItsPaidReceipts) {
  const fs::path checkpoint = WriteRandomCheckpoint(net_.dir().path(), 7);
  const fs::path spec =
      PaidNetwork::SetMaxPrice(WriteInferSpec(net_.dir().path(), "audited-infer", checkpoint,
                                              {"To be", "or not", "to"}, 2, 11, 4),
                               kMaxPrice);
  const std::string job = paid_.Submit(spec);
  ASSERT_FALSE(job.empty());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(90));
  ASSERT_TRUE(done) << net_.Logs();
  ASSERT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();

  std::vector<std::string> args = AuditArgs(job);
  args.insert(args.end(), {"--spec", spec.string(), "--json"});
  CommandResult ok = Audit(args);
  ASSERT_EQ(ok.exit_code, 0) << ok.out << ok.err << net_.Logs();
  const json a = json::parse(ok.out);
  EXPECT_EQ(a["verdict"], "VERIFIED") << a.dump();
  const std::map<std::string, std::string> want = {{"spec", "ok"},
                                                   {"data", "ok"},
                                                   {"rounds", "not_applicable"},
                                                   {"checkpoints", "not_applicable"},
                                                   {"replay", "not_applicable"},
                                                   {"output", "ok"},
                                                   {"evidence", "not_applicable"}};
  EXPECT_EQ(Statuses(a), want) << a["provenance"].dump(2);
  EXPECT_EQ(a["provenance"]["record"]["output_shards"].size(), 2u) << a.dump();
}

}  // namespace
}  // namespace plume::itest
