// Paying for verification, and verdicts in the ledger, end to end with real processes on
// loopback: plume-scheduler with the ledger on and replay audits, two honest plume-agents and one
// plume-cheat-agent that halves every training delta (every screen passes it). All three are new,
// so every result is audited, and every mismatch refereed; the providers ask the job's maximum
// price, so the job's own tasks take the whole of its own cost. Shown:
//  - `plume quote` shows the verification reserve (an audit and a referee of each task at the
//    maximum price), and the hold is the job's cost plus it;
//  - every honest audit and referee run is paid: each honest provider's balance is exactly price
//    x FLOPs of its verified runs, computed here from the spec, and the job paid more than its
//    own cost (what the escrow held before the reserve, when audit runs went unpaid);
//  - every audit's verdict is in the ledger with a receipt for each of its runs (the cheater's
//    unpaid runs as task_receipt entries: nothing staked, nothing slashed), and `plume audit`
//    recomputes each one from the ledger alone;
//  - the same ledger with one verdict replaced by a lie, well signed with the ledger key, fails
//    `plume ledger verify` and `plume audit`, both naming the verdict.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <set>
#include <string>

#include "network.h"
#include "node_record.h"
#include "paid_network.h"
#include "plume/kernels/flops.h"
#include "plume/ledger/amount.h"
#include "plume/ledger/ledger.h"
#include "plume/ledger/log.h"
#include "plume/ledger/verdict.h"
#include "spec_util.h"

namespace plume::itest {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

constexpr uint64_t kPrice = 2'000'000'000'000;  // the agents' asking price (network.cc)
constexpr uint32_t kFeeBps = 500;               // the scheduler's default fee

class AuditPayE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    net_.EnableAudits();
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest-a", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("honest-b", &why)) << why;
    ASSERT_TRUE(net_.StartAgent("cheat", &why, {"--cheat", "halve", "--cheat-q", "1"}, "",
                                PLUME_CHEAT_AGENT_BIN))
        << why;
    ASSERT_TRUE(net_.WaitActiveNodes(3, seconds(90))) << net_.Logs();
    ASSERT_EQ(paid_.Mint("mint:1", 500'000'000, paid_.operator_key()).exit_code, 0) << net_.Logs();
  }

  // A copy of the ledger in `to`, entry for entry (the same ledger id, so every signature still
  // holds), except the verdict `id`, whose outcome is changed and which is signed again with the
  // ledger key: what a scheduler that lied about an audit would have written.
  void ForgeVerdict(const fs::path& from, const fs::path& to, const std::string& id) {
    std::ifstream log(from / "ledger.log", std::ios::binary);
    std::vector<uint8_t> head(ledger::kLogHeaderBytes);
    log.read(reinterpret_cast<char*>(head.data()), static_cast<std::streamsize>(head.size()));
    auto header = ledger::DecodeLogHeader(head);
    ASSERT_TRUE(header) << header.error().message;
    auto source = ledger::Ledger::OpenReadOnly(from);
    ASSERT_TRUE(source) << source.error().message;
    std::vector<ledger::Entry> entries;
    ASSERT_TRUE((*source)->ForEachEntry(0, [&](const ledger::LoggedEntry& l) {
      entries.push_back(l.entry);
      return true;
    }));
    auto key = Identity::Load(net_.dir() / "keys" / "scheduler.key");
    ASSERT_TRUE(key) << key.error().message;
    bool forged = false;
    for (ledger::Entry& e : entries) {
      if (e.id != id) continue;
      auto f = ledger::DecodeVerdict(e.body);
      ASSERT_TRUE(f);
      f->outcome = f->outcome == ledger::VerdictOutcome::kMatched
                       ? ledger::VerdictOutcome::kUndecided
                       : ledger::VerdictOutcome::kMatched;
      e.body = ledger::EncodeVerdict(*f);
      e.signatures = {ledger::SignEntry(e, ledger::LedgerIdOf(*header), *key)};
      forged = true;
    }
    ASSERT_TRUE(forged) << id;
    ledger::LedgerOptions options;
    options.genesis_nonce = header->nonce;
    auto copy = ledger::Ledger::Open(to, *key, header->operator_key, options);
    ASSERT_TRUE(copy) << copy.error().message;
    auto answers = (*copy)->Append(entries);
    ASSERT_TRUE(answers) << answers.error().message;
    for (size_t i = 0; i < answers->size(); ++i) {
      ASSERT_EQ((*answers)[i].code, ledger::Code::kOk) << entries[i].id;
    }
  }

  Network net_{"auditpay"};
  PaidNetwork paid_{net_};
};

TEST_F(AuditPayE2E, EveryHonestVerificationRunIsPaidAndEveryVerdictIsInTheLedger) {
  TrainShape shape;
  shape.workers = 3;
  shape.rounds = 1;
  shape.local_steps = 4;
  const fs::path data = WriteTrainingText(net_.dir().path(), 20'000);
  const fs::path spec = paid_.WriteSpec("paid-audits", data, shape, kPrice);
  // Every task bills the same FLOPs (kernels/flops.h), computed here from the spec.
  const auto flops = static_cast<uint64_t>(
      kernels::TrainFlops(TinyModel(), shape.seq_len, shape.batch, shape.local_steps));
  const int64_t pay = ledger::PayForFlops(kPrice, flops)->value();
  const int64_t cost = ledger::CostWithFee(kPrice, flops, kFeeBps)->value();
  ASSERT_GT(pay, 0);

  std::string why;
  auto quote = net_.CliJson({"quote", spec.string()}, &why);
  ASSERT_TRUE(quote) << why;
  EXPECT_EQ((*quote)["job_cost_micro_plume"], 3 * cost) << quote->dump();
  EXPECT_EQ((*quote)["verification_reserve_micro_plume"], 6 * cost) << quote->dump();
  EXPECT_EQ((*quote)["max_cost_micro_plume"], 9 * cost) << quote->dump();

  const std::string job = paid_.Submit(spec);
  ASSERT_FALSE(job.empty());
  auto done = net_.WaitJobState(job, {"succeeded", "failed", "cancelled"}, seconds(240));
  ASSERT_TRUE(done) << net_.Logs();
  EXPECT_EQ((*done)["state"], "succeeded") << done->dump() << net_.Logs();
  // Audits outlive the job; its escrow is released once the last of them is decided.
  json hold;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto b =
            net_.CliJson({"balance", "escrow:" + job, "--ledger-dir", paid_.ledger_dir()}, &why);
        if (!b || !b->contains("hold") || !(*b)["hold"]["closed"].get<bool>()) return false;
        hold = (*b)["hold"];
        return true;
      },
      seconds(240), milliseconds(500)))
      << why << net_.Logs();
  EXPECT_EQ(hold["held"], 9 * cost) << hold.dump();

  auto history = paid_.History(&why);
  ASSERT_TRUE(history) << why;
  std::map<std::string, json> by_receipt;  // receipt task id -> its settle/slash/task_receipt
  std::map<std::string, int> settles;      // agent -> settle entries
  std::vector<json> verdicts;
  int verification_runs_paid = 0;
  for (const json& e : *history) {
    if (e.value("job", "") != job) continue;
    if (e["type"] == "verdict") verdicts.push_back(e);
    if (!e.contains("receipt")) continue;
    by_receipt[e["receipt"]["task"].get<std::string>()] = e;
    if (e["type"] != "settle") continue;
    const std::string agent = e["receipt"]["agent"];
    ++settles[agent];
    EXPECT_NE(agent, net_.agent_id("cheat")) << "the cheater was paid: " << e.dump();
    EXPECT_EQ(e["receipt"]["flops"], flops) << e.dump();
    const std::string id = e["id"];
    verification_runs_paid += id.ends_with("/audit") || id.ends_with("/referee");
  }
  EXPECT_GT(verification_runs_paid, 0);
  // Each honest provider: exactly price x FLOPs of its verified runs, audits and referees too.
  for (const char* name : {"honest-a", "honest-b"}) {
    const std::string id = net_.agent_id(name);
    EXPECT_GT(settles[id], 0) << name;
    EXPECT_EQ(paid_.Balance("provider:" + id), settles[id] * pay) << name;
    EXPECT_EQ(NodeOf(net_, name).value("proven_faulty", -1), 0) << name;
  }
  // More than the job's own cost went to verified work: before the reserve, the audit runs past
  // it found the escrow spent and were not paid.
  EXPECT_GT(hold["paid"].get<int64_t>() + hold["fees"].get<int64_t>(), 3 * cost) << hold.dump();

  // One verdict per original (all three were audited); each run it names has its receipt in the
  // ledger: a settle, or for the convicted (unstaked) cheater a task_receipt.
  EXPECT_EQ(verdicts.size(), 3u) << history->dump();
  int convictions = 0;
  for (const json& v : verdicts) {
    const json& fact = v["verdict"];
    const std::string outcome = fact["outcome"];
    const size_t faulty = outcome == "original_faulty" ? 0 : outcome == "auditor_faulty" ? 1 : 9;
    for (size_t i = 0; i < fact["runs"].size(); ++i) {
      const std::string task = fact["runs"][i]["task"];
      ASSERT_TRUE(by_receipt.contains(task)) << "no receipt of run " << task << ": " << v.dump();
      const json& r = by_receipt[task];
      EXPECT_EQ(r["receipt"]["output"], fact["runs"][i]["output"]) << v.dump();
      if (i == faulty) {
        ++convictions;
        EXPECT_EQ(r["type"], "task_receipt") << r.dump();
        EXPECT_EQ(r["receipt"]["agent"], net_.agent_id("cheat")) << r.dump();
      } else {
        EXPECT_EQ(r["type"], "settle") << "an honest run of a verdict went unpaid: " << r.dump();
      }
    }
  }
  EXPECT_GE(convictions, 1) << "the cheater's own result is always refereed";

  // `plume audit` recomputes every verdict from the ledger alone, and the ledger's checks pass
  // (lineage included: the cheater's averaged delta has its recorded receipt). The provenance
  // check of the rounds still names that delta: the model keeps a delta proven faulty after its
  // round averaged it (docs/verification.md), which is what the team should hear.
  CommandResult audit = net_.Cli({"audit", job, "--ledger-dir", paid_.ledger_dir(), "--json"});
  const json report = json::parse(audit.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << audit.out << audit.err;
  EXPECT_TRUE(report["ledger_ok"].get<bool>()) << report["problems"].dump();
  size_t from_entries = 0;
  for (const json& v : report["verdicts"]) {
    if (v["verdict_entry"].is_null()) continue;
    ++from_entries;
    EXPECT_TRUE(v["recomputed_from_ledger"].get<bool>()) << v.dump();
    EXPECT_TRUE(v["problems"].empty()) << v.dump();
  }
  EXPECT_EQ(from_entries, verdicts.size()) << report["verdicts"].dump();
  CommandResult verify = net_.Cli({"ledger", "verify", paid_.ledger_dir()});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;

  // A lie, well signed by the ledger key: the ledger took it, but `plume ledger verify` and
  // `plume audit` both recompute the verdict from its runs' receipts and fail it.
  const fs::path forged = net_.dir() / "forged-ledger";
  ForgeVerdict(paid_.ledger_dir(), forged, verdicts.front()["id"]);
  CommandResult still = net_.Cli({"ledger", "verify", forged.string()});
  EXPECT_EQ(still.exit_code, 1) << still.out << still.err;
  EXPECT_NE(still.out.find("contradicts its runs' receipts"), std::string::npos) << still.out;
  CommandResult caught = net_.Cli({"audit", job, "--ledger-dir", forged.string(), "--json"});
  EXPECT_EQ(caught.exit_code, 1) << caught.out << caught.err;
  const json lie = json::parse(caught.out, nullptr, false);
  ASSERT_FALSE(lie.is_discarded()) << caught.out << caught.err;
  EXPECT_FALSE(lie["ledger_ok"].get<bool>());
  const std::string problems = lie["problems"].dump();
  EXPECT_NE(problems.find("verdict entry"), std::string::npos) << problems;
  EXPECT_NE(problems.find("output hashes give"), std::string::npos) << problems;
  std::cout << "forged verdict caught: " << problems << "\n";
}

}  // namespace
}  // namespace plume::itest
