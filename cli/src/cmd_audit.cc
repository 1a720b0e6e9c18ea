// `plume audit JOB`: the job's money and provenance as the ledger records it, each part
// checked: the whole ledger verifies (hashes, signatures, Merkle root, balances), every entry
// of the job is proven included under a head signed by the trusted ledger key, every receipt
// carries a valid agent signature and scheduler countersignature, no task is paid twice, each
// settle pays exactly price x FLOPs (+ fee), and the hold adds up: held = paid + fees +
// released + what escrow still has. Prints the receipts' input and output hashes (data,
// checkpoints, results). Spec hash and round checkpoints live in the scheduler's job record,
// which this offline command does not read.
// Exit codes: 0 verified, 1 a check failed, 2 bad input.
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "commands.h"
#include "ledger_cli.h"
#include "plume/ledger/query.h"
#include "plume/ledger/verify.h"
#include "plume/protocol/hash.h"

namespace plume::cli {
namespace {

using nlohmann::json;
using namespace plume::ledger;

struct Audit {
  std::vector<std::string> problems;
  std::vector<LoggedEntry> entries;  // the job's, in log order
  int64_t settled_pay = 0;
  int64_t settled_fees = 0;
  void Problem(std::string p) { problems.push_back(std::move(p)); }
};

void CheckReceipt(const LoggedEntry& l, const PublicKey& trusted, std::set<std::string>& paid,
                  Audit& audit) {
  const TaskReceipt& r = *l.entry.receipt;
  const std::string at = "entry #" + std::to_string(l.index) + " (task " + r.task_id + ")";
  if (!VerifyAgentSignature(r)) audit.Problem(at + ": agent signature does not verify");
  if (!VerifyCountersignature(r, trusted)) {
    audit.Problem(at + ": scheduler countersignature does not verify with the ledger key");
  }
  if (l.entry.type != EntryType::kSettle) return;
  if (!paid.insert(r.task_id).second) audit.Problem(at + ": task paid twice");
  const auto pay = PayForFlops(r.price_micro_plume_per_pflop, r.flops);
  if (!pay) {
    audit.Problem(at + ": pay overflows");
    return;
  }
  audit.settled_pay += pay->value();
  audit.settled_fees += FeeFor(*pay, r.fee_bps).value();
}

void RunAudit(const LedgerFlags& flags, const std::string& job, const std::string& ledger_id) {
  auto report = Verify(flags.dir);
  if (!report)
    Fail(kExitBadInput, "cannot read ledger " + flags.dir + ": " + report.error().message);
  auto ledger = OpenOrFail(flags.dir);
  const PublicKey trusted =
      ledger_id.empty() ? ledger->keys().ledger : ParseKeyOrFail(ledger_id, "--ledger-id");
  Audit audit;
  if (!report->ok) audit.Problem("ledger does not verify: " + report->problem);
  if (ledger->keys().ledger != trusted) audit.Problem("ledger key differs from --ledger-id");
  std::set<std::string> paid;
  auto st = ledger->ForEachEntry(0, [&](const LoggedEntry& l) {
    if (l.entry.job != job) return true;
    audit.entries.push_back(l);
    if (l.entry.receipt) CheckReceipt(l, trusted, paid, audit);
    auto bundle = ledger->ProveInclusion(l.index);
    if (!bundle || !CheckInclusion(*bundle, trusted)) {
      audit.Problem("entry #" + std::to_string(l.index) + ": inclusion proof fails");
    }
    return true;
  });
  if (!st) Fail(kExitFailure, "reading " + flags.dir + ": " + st.error().message);
  const auto hold = ledger->Hold(job);
  const int64_t escrow = ledger->Balance(EscrowAccount(job)).value_or(MicroPlume(0)).value();
  if (!hold) {
    audit.Problem("no escrow hold for " + job);
  } else {
    if (hold->held.value() !=
        hold->paid.value() + hold->fees.value() + hold->released.value() + escrow) {
      audit.Problem("hold does not add up: held != paid + fees + released + escrow");
    }
    if (hold->paid.value() != audit.settled_pay || hold->fees.value() != audit.settled_fees) {
      audit.Problem("hold's paid/fees differ from the sum of its settled receipts");
    }
  }
  const bool ok = audit.problems.empty();
  if (flags.json) {
    json entries = json::array();
    for (const LoggedEntry& l : audit.entries) {
      json e{{"index", l.index}, {"line", DescribeEntry(l)}};
      if (l.entry.receipt) {
        json inputs = json::array();
        for (const Hash256& h : l.entry.receipt->input_hashes) inputs.push_back(ToHex(h));
        e["inputs"] = inputs;
        e["output"] = ToHex(l.entry.receipt->output_hash);
        e["agent_signature"] = ToHex(l.entry.receipt->agent_signature);
        e["scheduler_signature"] = ToHex(l.entry.receipt->scheduler_signature);
      }
      entries.push_back(e);
    }
    json j{{"job", job},
           {"ok", ok},
           {"problems", audit.problems},
           {"entries", entries},
           {"escrow_micro_plume", escrow}};
    if (hold) {
      j["hold"] = {{"held", hold->held.value()},
                   {"paid", hold->paid.value()},
                   {"fees", hold->fees.value()},
                   {"released", hold->released.value()},
                   {"closed", hold->closed}};
    }
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "audit of " << job << " in " << flags.dir << "\n";
    for (const LoggedEntry& l : audit.entries) {
      std::cout << "  " << DescribeEntry(l) << "\n";
      if (!l.entry.receipt) continue;
      const TaskReceipt& r = *l.entry.receipt;
      for (const Hash256& h : r.input_hashes) std::cout << "      input  " << ToHex(h) << "\n";
      std::cout << "      output " << ToHex(r.output_hash) << "\n"
                << "      signed by agent " << ToHex(r.agent).substr(0, 16)
                << ".. and countersigned by the ledger key: "
                << (VerifyAgentSignature(r) && VerifyCountersignature(r, trusted) ? "ok" : "BAD")
                << "\n";
    }
    if (hold) {
      std::cout << "  held " << hold->held.value() << " = paid " << hold->paid.value() << " + fees "
                << hold->fees.value() << " + released " << hold->released.value() << " + in escrow "
                << escrow << " micro-PLUME\n";
    }
    for (const std::string& p : audit.problems) std::cout << "  PROBLEM: " << p << "\n";
    std::cout << (ok ? "VERIFIED" : "FAILED") << ": " << job << "\n";
  }
  if (!ok) throw CommandFailed(kExitFailure);
}

}  // namespace

void RegisterAuditCommand(CLI::App& app) {
  static LedgerFlags flags;
  static std::string job, ledger_id;
  auto* audit = app.add_subcommand("audit", "check a job's escrow, receipts and payments");
  audit->add_option("job", job, "job id")->required();
  audit->add_option("--ledger-dir", flags.dir, "the scheduler's ledger directory");
  audit->add_option("--ledger-id", ledger_id, "the ledger (scheduler) public key to trust");
  audit->add_flag("--json", flags.json, "machine-readable output");
  audit->callback([] { RunAudit(ResolveLedgerFlags(flags), job, ledger_id); });
}

}  // namespace plume::cli
