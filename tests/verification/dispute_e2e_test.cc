// Issue 9 item 4, cheap disputes, end to end with real processes on loopback: plume-scheduler
// with the ledger and audits on, two honest plume-agents and a plume-cheat-agent of the same
// kernel class that halves its training deltas AND commits to a chain that parts from the honest
// one at link 2 (`--cheat chain --cheat-link 2`), as a provider whose training went wrong at that
// step would. Every mismatch of its runs is decided by a referee that recomputed ONE segment of
// the task (1/8 of its 8 inner steps), from the state behind link 1 that an export fetched from a
// disputant: the cheater is convicted and never paid, no honest provider is ever found faulty,
// and the job succeeds. The fraction recomputed per dispute is read from the scheduler's verdict
// log line and printed, and `plume audit` recomputes each verdict from its evidence blob.
#include <gtest/gtest.h>

#include <fstream>
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


class DisputeE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    net_.EnableAudits();
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest-a", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest-b", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("cheat", &why,
                                {"--cheat", "chain", "--cheat-link", "2", "--cheat-q", "1"}, "",
                                PLUME_CHEAT_AGENT_BIN))
        << why;
    ASSERT_TRUE(net_.WaitActiveNodes(3, seconds(90))) << net_.Logs();
    ASSERT_EQ(paid_.Mint("mint:1", 500'000'000, paid_.operator_key()).exit_code, 0) << net_.Logs();
    // The cheater has stake, so each conviction is a slash whose memo the audit reads.
    ASSERT_TRUE(paid_.FundAndStake("cheat", 20'000'000, "10", &why)) << why;
  }

  Network net_{"disputes"};
  PaidNetwork paid_{net_};
};

TEST_F(DisputeE2E, ADivergedChainIsConvictedByARefereeThatRecomputedOneSegment) {
  TrainShape shape;
  shape.workers = 3;
  shape.rounds = 1;
  shape.local_steps = 8;  // CommitmentInterval(8) = 1: eight links of one step each
  const fs::path data = WriteTrainingText(net_.dir().path(), 20'000);
  const fs::path spec = paid_.WriteSpec("disputed", data, shape, 2'500'000'000'000);
  const std::string job = paid_.Submit(spec);
  ASSERT_FALSE(job.empty());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(240));
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();

  // Audits outlive the job.
  const json cheat = AwaitProvenFaulty(net_, "cheat");
  EXPECT_GE(cheat.value("proven_faulty", 0), 1) << cheat.dump() << net_.Logs();
  for (const char* honest : {"honest-a", "honest-b"}) {
    const json h = NodeOf(net_, honest);
    EXPECT_EQ(h.value("proven_faulty", -1), 0) << h.dump() << net_.Logs();
  }

  // Every verdict was decided on the chains at link 2, recomputing one segment of eight steps,
  // and named the cheater; no dispute needed the whole task re-run.
  const std::string log = ReadFile(net_.scheduler_log());
  const std::regex verdict(
      R"(dispute: (\w+) at link (-?\d+), recomputed ([0-9.]+) of the task; proven faulty: (\w+))");
  int disputes = 0;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), verdict);
       it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    ++disputes;
    std::cout << "dispute " << disputes << ": " << m[1] << " at link " << m[2] << ", recomputed "
              << m[3] << " of the task\n";
    EXPECT_EQ(m[2], "2");
    EXPECT_DOUBLE_EQ(std::stod(m[3]), 1.0 / 8);
    EXPECT_EQ(m[4], net_.agent_id("cheat"));
  }
  EXPECT_GE(disputes, 1) << net_.Logs();
  // A full referee's verdict line (core_audit.cc Conclude) would read "referee: <outcome>".
  std::smatch full;
  EXPECT_FALSE(std::regex_search(log, full, std::regex(R"(referee: (\w+_faulty|undecided))")))
      << "a dispute fell back to a full re-run: " << full.str();
  EXPECT_NE(log.find("exported"), std::string::npos) << "link 2 starts from an exported state";
  EXPECT_EQ(NodeOf(net_, "cheat").value("tasks_refused", -1), 0) << "no screen sees this cheat";

  // No settle ever names the cheater: each of its runs was disputed and proven wrong first.
  std::string why;
  auto history =
      net_.CliJson({"ledger", "history", "--json", "--ledger-dir", paid_.ledger_dir()}, &why);
  ASSERT_TRUE(history) << why;
  for (const json& e : *history) {
    if (e["type"] != "settle") continue;
    EXPECT_NE(e["receipt"]["agent"], net_.agent_id("cheat")) << e.dump();
  }

  // `plume audit` prints each slashed run's verdict with the segment it was decided on, and
  // (through the scheduler, which serves the job's owner the evidence blob the verdict entry
  // names) recomputes it from both chains, the referee's link and the receipts that sign them.
  // Slashes and verdict entries follow convictions: poll the audit until both are in.
  json slashed, evidence_check;
  for (int i = 0; i < 60 && slashed.is_null(); ++i) {
    CommandResult audit = net_.Cli(
        {"audit", job, "--ledger-dir", paid_.ledger_dir(), "--spec", spec.string(), "--json"});
    const json report = json::parse(audit.out, nullptr, false);
    ASSERT_FALSE(report.is_discarded()) << audit.out << audit.err;
    for (const json& v : report["verdicts"]) {
      if (v["slashed"].get<int64_t>() > 0 && !v["verdict_entry"].is_null()) slashed = v;
    }
    for (const json& c : report["provenance"]["checks"]) {
      if (c["name"] == "evidence") evidence_check = c;
    }
    if (slashed.is_null()) std::this_thread::sleep_for(seconds(1));  // polling a process
  }
  ASSERT_FALSE(slashed.is_null()) << "no slash in the audit" << net_.Logs();
  EXPECT_TRUE(slashed["evidence"].is_string()) << slashed.dump();
  EXPECT_TRUE(slashed["evidence_checked"].get<bool>()) << slashed.dump();
  EXPECT_TRUE(slashed["recomputed_from_evidence"].get<bool>()) << slashed.dump();
  EXPECT_NE(slashed["how"].get<std::string>().find(
                "dispute recomputed from the ledger and the evidence blob"),
            std::string::npos)
      << slashed.dump();
  EXPECT_NE(slashed["how"].get<std::string>().find("they part at link 2"), std::string::npos)
      << slashed.dump();
  // --spec: the blob's H is the spec's local_steps, not only the scheduler's word.
  EXPECT_NE(slashed["how"].get<std::string>().find(
                std::to_string(shape.local_steps) + " inner steps, is the spec's"),
            std::string::npos)
      << slashed.dump();
  EXPECT_TRUE(slashed["problems"].empty()) << slashed.dump();
  EXPECT_EQ(evidence_check["status"], "ok") << evidence_check.dump();
  // Offline, the ledger alone checks the verdicts' receipts and says who checks the evidence.
  CommandResult verify = net_.Cli({"ledger", "verify", paid_.ledger_dir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  EXPECT_NE(verify.out.find("dispute verdicts name an evidence blob"), std::string::npos)
      << verify.out;
  EXPECT_EQ(slashed["verdict"], "disputed: proven faulty") << slashed.dump();
  EXPECT_EQ(slashed["faulty"], net_.agent_id("cheat")) << slashed.dump();
  EXPECT_EQ(slashed["schedulers_word"]["dispute_link"], 2) << slashed.dump();
  EXPECT_DOUBLE_EQ(slashed["schedulers_word"]["recomputed_fraction"].get<double>(), 1.0 / 8);
  std::cout << "audit verdict: " << slashed.dump() << "\n";
}

}  // namespace
}  // namespace plume::itest
