// Issue 9 item 4 for inference, end to end with real processes on loopback: plume-scheduler with
// the ledger and audits on, two honest plume-agents and a plume-cheat-agent of the same kernel
// class that, in every shard it returns, replaces the completion of the shard's second prompt
// with junk of the same token count and commits to that junk's hash (`--cheat junk
// --cheat-prompt 1`): the screens cannot see it. Every mismatch of its runs is decided by a
// referee that regenerated ONLY that prompt (1 of the shard's 4: fraction 0.25 < 1), at its global
// index, and the cheater is convicted and never paid; no honest provider is ever found faulty;
// the job succeeds. The fraction per dispute is read from the scheduler's verdict line, and
// `plume audit` shows it next to the share the receipts' FLOPs give, and recomputes the verdict
// from the evidence blob it names (both completion lists, the referee's hashes, the receipts).
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "node_record.h"
#include "network.h"
#include "paid_network.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

constexpr int kShards = 4;
constexpr int kPromptsPerShard = 4;

class InferDisputeE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    net_.EnableAudits();
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest-a", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest-b", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("cheat", &why, {"--cheat", "junk", "--cheat-prompt", "1"}, "",
                                PLUME_CHEAT_AGENT_BIN))
        << why;
    ASSERT_TRUE(net_.WaitActiveNodes(3, seconds(90))) << net_.Logs();
    ASSERT_EQ(paid_.Mint("mint:1", 500'000'000, paid_.operator_key()).exit_code, 0) << net_.Logs();
    ASSERT_TRUE(paid_.FundAndStake("cheat", 20'000'000, "10", &why)) << why;
  }

  Network net_{"infer-disputes"};
  PaidNetwork paid_{net_};
};

TEST_F(InferDisputeE2E, AJunkCompletionIsConvictedByRegeneratingThatPromptAlone) {
  const fs::path dir = net_.dir().path();
  std::vector<std::string> prompts;
  for (int i = 0; i < kShards * kPromptsPerShard; ++i) prompts.push_back("prompt " + std::to_string(i));
  const fs::path spec = PaidNetwork::SetMaxPrice(
      WriteInferSpec(dir, "gen", WriteRandomCheckpoint(dir, 3), prompts, kShards, 17, 12),
      2'500'000'000'000);
  const std::string job = paid_.Submit(spec);
  ASSERT_FALSE(job.empty());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(240));
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();

  const json cheat = AwaitProvenFaulty(net_, "cheat");
  EXPECT_GE(cheat.value("proven_faulty", 0), 1) << cheat.dump() << net_.Logs();
  EXPECT_EQ(cheat.value("tasks_refused", -1), 0) << "no screen sees this cheat";
  for (const char* honest : {"honest-a", "honest-b"}) {
    const json h = NodeOf(net_, honest);
    EXPECT_EQ(h.value("proven_faulty", -1), 0) << h.dump() << net_.Logs();
  }

  // Every verdict regenerated the one junk prompt (position 1 of its shard) and named the cheater.
  const std::string log = ReadFile(net_.scheduler_log());
  const std::regex verdict(
      R"(dispute: (\w+) at prompt (-?\d+), recomputed ([0-9.]+) of the task; proven faulty: (\w+))");
  int disputes = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), verdict);
       it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    ++disputes;
    std::cout << "dispute " << disputes << ": " << m[1] << " at prompt " << m[2]
              << ", recomputed " << m[3] << " of the shard\n";
    EXPECT_EQ(m[2], "1");
    EXPECT_DOUBLE_EQ(std::stod(m[3]), 1.0 / kPromptsPerShard);
    EXPECT_LT(std::stod(m[3]), 1.0);
    EXPECT_EQ(m[4], net_.agent_id("cheat"));
  }
  EXPECT_GE(disputes, 1) << net_.Logs();
  std::smatch full;
  EXPECT_FALSE(std::regex_search(log, full, std::regex(R"(referee: (\w+_faulty|undecided))")))
      << "a dispute fell back to a full re-run: " << full.str();

  // No settle names the cheater; the job's outputs are the honest ones, in prompt order.
  std::string why;
  auto history =
      net_.CliJson({"ledger", "history", "--json", "--ledger-dir", paid_.ledger_dir()}, &why);
  ASSERT_TRUE(history) << why;
  for (const json& e : *history) {
    if (e["type"] == "settle") EXPECT_NE(e["receipt"]["agent"], net_.agent_id("cheat")) << e.dump();
  }
  ASSERT_EQ(net_.Cli({"fetch", job, "-o", (dir / "fetched").string()}).exit_code, 0);
  const std::string out = ReadFile(dir / "fetched" / "outputs.jsonl");
  ASSERT_EQ(net_.Cli({"run-local", spec.string(), "--threads", "1"}, seconds(120)).exit_code, 0);
  // A job does not wait for its audits (docs/verification.md): a shard the cheater returned before
  // its conviction may stand in the outputs, with its one junk line; every other line is the
  // honest text, in prompt order.
  std::istringstream got(out), want(ReadFile(dir / "gen-out" / "outputs.jsonl"));
  int lines = 0;
  for (std::string g, w; std::getline(want, w); ++lines) {
    ASSERT_TRUE(std::getline(got, g)) << out;
    if (g == w) continue;
    const json j = json::parse(g);
    EXPECT_EQ(j["index"].get<int>() % kPromptsPerShard, 1) << g;
    EXPECT_EQ(j["completion"].get<std::string>().find_first_not_of("jk"), std::string::npos) << g;
  }
  EXPECT_EQ(lines, kShards * kPromptsPerShard);

  // `plume audit`: each slashed run's verdict with the prompt and fraction (the ledger holds no
  // completion lists, the evidence blob does); where the referee's run is paid too (the escrow
  // pays audit runs while it lasts), the share its receipt bills, from the ledger alone.
  // Through the scheduler, each verdict is also recomputed from the evidence blob it names:
  // both completion lists, the referee's regenerated hashes and the receipts that sign them.
  json slashed = json::array(), evidence_check;
  for (int i = 0; i < 60 && slashed.empty(); ++i) {
    CommandResult audit = net_.Cli(
        {"audit", job, "--ledger-dir", paid_.ledger_dir(), "--spec", spec.string(), "--json"});
    const json report = json::parse(audit.out, nullptr, false);
    ASSERT_FALSE(report.is_discarded()) << audit.out << audit.err;
    for (const json& v : report["verdicts"]) {
      if (v["slashed"].get<int64_t>() > 0 && !v["verdict_entry"].is_null()) slashed.push_back(v);
    }
    for (const json& c : report["provenance"]["checks"]) {
      if (c["name"] == "evidence") evidence_check = c;
    }
    if (slashed.empty()) std::this_thread::sleep_for(seconds(1));  // polling a process
  }
  ASSERT_FALSE(slashed.empty()) << "no slash in the audit" << net_.Logs();
  EXPECT_EQ(evidence_check["status"], "ok") << evidence_check.dump();
  for (const json& v : slashed) {
    EXPECT_TRUE(v["evidence"].is_string()) << v.dump();
    EXPECT_TRUE(v["recomputed_from_evidence"].get<bool>()) << v.dump();
    EXPECT_NE(v["how"].get<std::string>().find(
                  "dispute recomputed from the ledger and the evidence blob"),
              std::string::npos)
        << v.dump();
    EXPECT_NE(v["how"].get<std::string>().find("they first differ at prompt 1"),
              std::string::npos)
        << v.dump();
    // --spec: the shard's prompt count (from the spec's prompts and workers) is checked too.
    EXPECT_NE(v["how"].get<std::string>().find(std::to_string(kPromptsPerShard) +
                                                " prompts, is the spec's"),
              std::string::npos)
        << v.dump();
    EXPECT_TRUE(v["problems"].empty()) << v.dump();
    EXPECT_EQ(v["verdict"], "disputed: proven faulty") << v.dump();
    EXPECT_EQ(v["faulty"], net_.agent_id("cheat")) << v.dump();
    EXPECT_EQ(v["schedulers_word"]["dispute_link"], 1) << v.dump();
    EXPECT_DOUBLE_EQ(v["schedulers_word"]["recomputed_fraction"].get<double>(),
                     1.0 / kPromptsPerShard);
    if (v["segment_share"].is_number()) {  // one prompt's FLOPs over a shard's four
      EXPECT_GT(v["segment_share"].get<double>(), 0.0);
      EXPECT_LT(v["segment_share"].get<double>(), 0.5);
    }
  }
  std::cout << "audit verdicts: " << slashed.dump() << "\n";
}

}  // namespace
}  // namespace plume::itest
