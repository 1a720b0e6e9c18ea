// The ledger half of `plume audit` (audit_ledger.h): every check reads the ledger directory
// offline, read-only, beside a running scheduler.
#include "audit_ledger.h"

#include <set>

#include "audit_verdicts.h"

#include "plume/ledger/lineage.h"
#include "plume/ledger/query.h"
#include "plume/ledger/verify.h"

namespace plume::cli {
namespace {

using namespace plume::ledger;

void CheckReceipt(const LoggedEntry& l, std::set<std::string>& paid, LedgerAudit& audit) {
  const TaskReceipt& r = *l.entry.receipt;
  const std::string at = "entry #" + std::to_string(l.index) + " (task " + r.task_id + ")";
  if (!VerifyAgentSignature(r, audit.ledger)) {
    audit.Problem(at + ": agent signature does not verify");
  }
  if (!VerifyCountersignature(r, audit.ledger, audit.trusted)) {
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

// The same chain `plume lineage JOB` prints. A training job is traced from its final checkpoint
// entry; one without (running, failed, cancelled) made no model to trace.
void CheckJobLineage(const Ledger& ledger, const std::string& job, LedgerAudit& audit) {
  bool rounds = false, final = false;
  for (const LoggedEntry& l : audit.entries) {
    if (l.entry.type != EntryType::kCheckpoint) continue;
    rounds = true;
    auto f = DecodeCheckpoint(l.entry.body);
    final = final || (f && f->final);
  }
  if (rounds && !final) {
    audit.lineage_not_applicable = "the training job has no final checkpoint entry (no model)";
    return;
  }
  auto report = TraceLineage(ledger, job, audit.trusted);
  if (!report) {
    audit.Problem("lineage: cannot read the ledger: " + report.error().message);
    return;
  }
  for (const std::string& p : report->check.problems) audit.Problem("lineage: " + p);
  audit.lineage = std::move(*report);
}

}  // namespace

LedgerAudit CheckLedger(const LedgerFlags& flags, const std::string& job,
                        const std::string& ledger_id) {
  LedgerAudit audit;
  auto report = Verify(flags.dir);
  if (!report)
    Fail(kExitBadInput, "cannot read ledger " + flags.dir + ": " + report.error().message);
  auto ledger = OpenOrFail(flags.dir);
  audit.trusted =
      ledger_id.empty() ? ledger->keys().ledger : ParseKeyOrFail(ledger_id, "--ledger-id");
  audit.ledger = ledger->keys().ledger_id;
  if (!report->ok) audit.Problem("ledger does not verify: " + report->problem);
  if (ledger->keys().ledger != audit.trusted) audit.Problem("ledger key differs from --ledger-id");
  std::set<std::string> paid;
  auto st = ledger->ForEachEntry(0, [&](const LoggedEntry& l) {
    if (l.entry.job != job) return true;
    audit.entries.push_back(l);
    if (l.entry.receipt) CheckReceipt(l, paid, audit);
    auto bundle = ledger->ProveInclusion(l.index);
    if (!bundle || !CheckInclusion(*bundle, audit.trusted)) {
      audit.Problem("entry #" + std::to_string(l.index) + ": inclusion proof fails");
    }
    return true;
  });
  if (!st) Fail(kExitFailure, "reading " + flags.dir + ": " + st.error().message);
  // A verdict the ledger contradicts (a slash of the run the receipts agree with) is a problem.
  for (const TaskVerdict& v : VerdictsOf(audit.entries)) {
    for (const std::string& p : v.problems) audit.Problem("task " + v.task + ": " + p);
  }
  CheckJobLineage(*ledger, job, audit);
  audit.hold = ledger->Hold(job);
  audit.escrow = ledger->Balance(EscrowAccount(job)).value_or(MicroPlume(0)).value();
  if (!audit.hold) {
    audit.Problem("no escrow hold for " + job);
    return audit;
  }
  const auto& h = *audit.hold;
  // Royalties to dataset owners leave the escrow in the same settles as the providers' pay.
  if (h.held.value() !=
      h.paid.value() + h.fees.value() + h.royalties.value() + h.released.value() + audit.escrow) {
    audit.Problem("hold does not add up: held != paid + fees + royalties + released + escrow");
  }
  if (h.paid.value() != audit.settled_pay || h.fees.value() != audit.settled_fees) {
    audit.Problem("hold's paid/fees differ from the sum of its settled receipts");
  }
  return audit;
}

// The job's receipts as the provenance checks see them (each already checked in the ledger).
std::vector<ReceiptFacts> ReceiptsOf(const LedgerAudit& audit) {
  std::vector<ReceiptFacts> out;
  for (const LoggedEntry& l : audit.entries) {
    if (!l.entry.receipt) continue;
    const TaskReceipt& r = *l.entry.receipt;
    out.push_back(
        {l.index, r.task_id, l.entry.type == EntryType::kSettle, r.input_hashes, r.output_hash});
  }
  return out;
}

}  // namespace plume::cli
