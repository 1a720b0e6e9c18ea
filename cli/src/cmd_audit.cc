// `plume audit JOB`: the job's money and provenance, each part checked.
// Ledger (read offline from --ledger-dir): the whole ledger verifies (hashes, signatures, Merkle
// root, balances), every entry of the job is proven included under a head signed by the trusted
// ledger key, every receipt carries a valid agent signature and scheduler countersignature, no
// task is paid twice, each settle pays exactly price x FLOPs (+ fee), and the hold adds up:
// held = paid + fees + released + what escrow still has.
// Provenance (from the scheduler, when one is named: audit_run.cc): the spec hash, the data the
// receipts read, the chain of round checkpoints, a replay of every round's outer step, and the
// final output (audit_provenance.h).
// Exit codes: 0 verified (or: ledger verified and no scheduler named, said so plainly), 1 a
// check failed or a named scheduler could not be asked, 2 bad input. docs/payments.md.
#include <cstdio>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "audit_fetch.h"
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
  PublicKey trusted{};
  std::vector<std::string> problems;
  std::vector<LoggedEntry> entries;  // the job's, in log order
  int64_t settled_pay = 0;
  int64_t settled_fees = 0;
  std::optional<HoldInfo> hold;
  int64_t escrow = 0;
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

// The ledger half: fills audit.entries and audit.problems.
void CheckLedger(const LedgerFlags& flags, const std::string& job, const std::string& ledger_id,
                 Audit& audit) {
  auto report = Verify(flags.dir);
  if (!report)
    Fail(kExitBadInput, "cannot read ledger " + flags.dir + ": " + report.error().message);
  auto ledger = OpenOrFail(flags.dir);
  audit.trusted =
      ledger_id.empty() ? ledger->keys().ledger : ParseKeyOrFail(ledger_id, "--ledger-id");
  if (!report->ok) audit.Problem("ledger does not verify: " + report->problem);
  if (ledger->keys().ledger != audit.trusted) audit.Problem("ledger key differs from --ledger-id");
  std::set<std::string> paid;
  auto st = ledger->ForEachEntry(0, [&](const LoggedEntry& l) {
    if (l.entry.job != job) return true;
    audit.entries.push_back(l);
    if (l.entry.receipt) CheckReceipt(l, audit.trusted, paid, audit);
    auto bundle = ledger->ProveInclusion(l.index);
    if (!bundle || !CheckInclusion(*bundle, audit.trusted)) {
      audit.Problem("entry #" + std::to_string(l.index) + ": inclusion proof fails");
    }
    return true;
  });
  if (!st) Fail(kExitFailure, "reading " + flags.dir + ": " + st.error().message);
  audit.hold = ledger->Hold(job);
  audit.escrow = ledger->Balance(EscrowAccount(job)).value_or(MicroPlume(0)).value();
  if (!audit.hold) {
    audit.Problem("no escrow hold for " + job);
    return;
  }
  const auto& h = *audit.hold;
  if (h.held.value() != h.paid.value() + h.fees.value() + h.released.value() + audit.escrow) {
    audit.Problem("hold does not add up: held != paid + fees + released + escrow");
  }
  if (h.paid.value() != audit.settled_pay || h.fees.value() != audit.settled_fees) {
    audit.Problem("hold's paid/fees differ from the sum of its settled receipts");
  }
}

// The job's receipts as the provenance checks see them (each already checked in the ledger).
std::vector<ReceiptFacts> ReceiptsOf(const Audit& audit) {
  std::vector<ReceiptFacts> out;
  for (const LoggedEntry& l : audit.entries) {
    if (!l.entry.receipt) continue;
    const TaskReceipt& r = *l.entry.receipt;
    out.push_back({l.index, r.task_id, l.entry.type == EntryType::kSettle, r.input_hashes,
                   r.output_hash});
  }
  return out;
}

// One word for the outcome, so neither a script nor a reader takes a money-only audit for a
// full one.
std::string Verdict(bool ledger_ok, const ProvenanceReport& p) {
  if (!ledger_ok || (p.checked && !p.ok())) return "FAILED";
  if (p.checked) return "VERIFIED";
  return p.scheduler_named ? "FAILED" : "LEDGER-ONLY";
}

json ProvenanceJson(const ProvenanceReport& p) {
  json checks = json::array();
  for (const CheckResult& c : p.checks) {
    checks.push_back({{"name", c.name},
                      {"status", c.status == CheckStatus::kOk        ? "ok"
                                 : c.status == CheckStatus::kProblem ? "problem"
                                                                     : "not_checked"},
                      {"summary", c.summary},
                      {"problems", c.problems}});
  }
  json j{{"checked", p.checked}, {"ok", p.ok()}, {"scheduler", p.scheduler}, {"checks", checks}};
  if (!p.checked) j["reason"] = p.not_checked_why;
  if (!p.record) return j;
  // The record the checks ran on, so a reader can recheck any hash by hand.
  const JobRecord& r = *p.record;
  auto hexes = [](const std::vector<Hash256>& hs) {
    json a = json::array();
    for (const Hash256& h : hs) a.push_back(ToHex(h));
    return a;
  };
  json data = json::object(), rounds = json::array();
  for (const auto& [name, hash] : r.data_blobs) data[name] = ToHex(hash);
  for (const RoundFacts& f : r.rounds) {
    rounds.push_back({{"round", f.round},
                      {"params_in", ToHex(f.params_in)},
                      {"params_out", ToHex(f.params_out)},
                      {"deltas", hexes(f.deltas)},
                      {"weights", f.weights},
                      {"outer_lr", f.outer_lr},
                      {"outer_momentum", f.outer_momentum}});
  }
  j["record"] = {{"state", r.state},
                 {"spec_hash", r.spec_hash ? json(ToHex(*r.spec_hash)) : json(nullptr)},
                 {"data_blobs", data},
                 {"rounds", rounds},
                 {"output_shards", hexes(r.output_shards)}};
  return j;
}

void PrintJson(const std::string& job, const Audit& audit, const ProvenanceReport& p,
               const std::string& verdict) {
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
  // "ok": no check found a problem; "verified": the ledger and the provenance were both checked
  // and passed (false for a money-only audit).
  json j{{"job", job},
         {"ok", audit.problems.empty() && verdict != "FAILED"},
         {"verified", verdict == "VERIFIED"},
         {"verdict", verdict},
         {"ledger_ok", audit.problems.empty()},
         {"problems", audit.problems},
         {"entries", entries},
         {"escrow_micro_plume", audit.escrow},
         {"provenance", ProvenanceJson(p)}};
  if (audit.hold) {
    const auto& h = *audit.hold;
    j["hold"] = {{"held", h.held.value()},
                 {"paid", h.paid.value()},
                 {"fees", h.fees.value()},
                 {"released", h.released.value()},
                 {"closed", h.closed}};
  }
  std::cout << j.dump() << "\n";
}

void PrintText(const std::string& job, const std::string& dir, const Audit& audit,
               const ProvenanceReport& p, const std::string& verdict) {
  std::cout << "audit of " << job << " in " << dir << "\n";
  for (const LoggedEntry& l : audit.entries) {
    std::cout << "  " << DescribeEntry(l) << "\n";
    if (!l.entry.receipt) continue;
    const TaskReceipt& r = *l.entry.receipt;
    for (const Hash256& h : r.input_hashes) std::cout << "      input  " << ToHex(h) << "\n";
    std::cout << "      output " << ToHex(r.output_hash) << "\n"
              << "      signed by agent " << ToHex(r.agent).substr(0, 16)
              << ".. and countersigned by the ledger key: "
              << (VerifyAgentSignature(r) && VerifyCountersignature(r, audit.trusted) ? "ok"
                                                                                      : "BAD")
              << "\n";
  }
  if (audit.hold) {
    const auto& h = *audit.hold;
    std::cout << "  held " << h.held.value() << " = paid " << h.paid.value() << " + fees "
              << h.fees.value() << " + released " << h.released.value() << " + in escrow "
              << audit.escrow << " micro-PLUME\n";
  }
  for (const std::string& problem : audit.problems) std::cout << "  PROBLEM: " << problem << "\n";
  std::cout << "  ledger: " << (audit.problems.empty() ? "ok" : "PROBLEM") << "\n";
  if (!p.checked) {
    std::cout << "  provenance not checked: " << p.not_checked_why << "\n";
  } else {
    std::cout << "  provenance (from the scheduler at " << p.scheduler << "):\n";
    for (const CheckResult& c : p.checks) {
      std::printf("    %-12s %-12s %s\n", c.name.c_str(), StatusName(c.status).c_str(),
                  c.summary.c_str());
      for (const std::string& problem : c.problems) {
        std::cout << "      PROBLEM: " << problem << "\n";
      }
    }
  }
  if (verdict == "LEDGER-ONLY") {
    std::cout << "LEDGER VERIFIED, PROVENANCE NOT CHECKED: " << job << "\n";
    return;
  }
  std::cout << verdict << ": " << job;
  for (const CheckResult& c : p.checks) {
    if (verdict == "VERIFIED" && c.status == CheckStatus::kNotChecked) {
      std::cout << " (" << c.name << " not checked)";
    }
  }
  std::cout << "\n";
}

void RunAudit(const LedgerFlags& flags, const std::string& job, const std::string& ledger_id,
              const ProvenanceOptions& provenance, bool require_provenance) {
  Audit audit;
  CheckLedger(flags, job, ledger_id, audit);
  const ProvenanceReport p = CheckProvenance(provenance, job, ReceiptsOf(audit));
  std::string verdict = Verdict(audit.problems.empty(), p);
  if (verdict == "LEDGER-ONLY" && require_provenance) verdict = "FAILED";
  if (flags.json) {
    PrintJson(job, audit, p, verdict);
  } else {
    PrintText(job, flags.dir, audit, p, verdict);
  }
  if (verdict == "FAILED") throw CommandFailed(kExitFailure);
}

}  // namespace

void RegisterAuditCommand(CLI::App& app) {
  static LedgerFlags flags;
  static std::string job, ledger_id;
  static ProvenanceOptions provenance;
  static bool require_provenance = false;
  auto* audit = app.add_subcommand(
      "audit",
      "check a job: its escrow, receipts and payments in the ledger, and (with a scheduler) its "
      "provenance: spec hash, data, round checkpoints, a replay of every round, final output");
  audit->add_option("job", job, "job id")->required();
  audit->add_option("--ledger-dir", flags.dir, "the scheduler's ledger directory");
  audit->add_option("--ledger-id", ledger_id, "the ledger (scheduler) public key to trust");
  audit->add_option("--scheduler", provenance.net.scheduler,
                    "scheduler endpoint tcp://HOST:PORT for the provenance checks (default: "
                    "$PLUME_SCHEDULER; none: the ledger alone is checked, and said so)");
  audit->add_option("--scheduler-id", provenance.net.scheduler_id,
                    "the scheduler's id, hex (default: $PLUME_SCHEDULER_ID)");
  audit->add_option("--key", provenance.net.key,
                    "your key file; the job must be yours (default: $PLUME_KEY or "
                    "~/.config/plume/key)");
  audit->add_option("--spec", provenance.spec_path,
                    "the job's spec file: its BLAKE2b-256 must be the job's spec hash, and round "
                    "0 must start from the model its seed initialises");
  audit->add_flag("--require-provenance", require_provenance,
                  "fail (exit 1) when no scheduler is named, instead of a ledger-only audit");
  audit->add_flag("--json", flags.json, "machine-readable output");
  audit->footer(
      "Exit codes: 0 verified (ledger and provenance), or LEDGER VERIFIED, PROVENANCE NOT CHECKED "
      "when no scheduler is named; 1 a check failed, or a named scheduler could not be asked; "
      "2 bad input.");
  audit->callback([] {
    RunAudit(ResolveLedgerFlags(flags), job, ledger_id, provenance, require_provenance);
  });
}

}  // namespace plume::cli
