// The ledger half of `plume audit JOB` and the audit's report (cmd_audit.cc runs both halves):
// the job's entries checked in the ledger read offline from --ledger-dir, the receipts handed to
// the provenance checks (audit_provenance.h), and the verdict printed as text or JSON.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "audit_fetch.h"
#include "ledger_cli.h"
#include "lineage_ledger.h"
#include "plume/ledger/ledger.h"

namespace plume::cli {

struct LedgerAudit {
  PublicKey trusted{};  // the ledger key the audit trusts
  ledger::LedgerId ledger{};  // the audited ledger's id (its log header), which receipts sign
  std::vector<std::string> problems;
  std::vector<ledger::LoggedEntry> entries;  // the job's, in log order
  int64_t settled_pay = 0;
  int64_t settled_fees = 0;
  std::optional<ledger::HoldInfo> hold;
  int64_t escrow = 0;
  // The lineage of what the job produced (lineage_ledger.h): an inference job's outputs back to
  // the datasets, a training job's final model back to its rounds. nullopt with a reason when
  // there is nothing to trace (a training job that made no final model).
  std::optional<LineageReport> lineage;
  std::string lineage_not_applicable;
  void Problem(std::string p) { problems.push_back(std::move(p)); }
};

// The whole ledger verifies, each of the job's entries is proven included under a head signed
// by the trusted key (ledger_id, or the log's own), each receipt's signatures verify, no task is
// paid twice, and the hold adds up. An unreadable ledger ends the command (exit 2).
LedgerAudit CheckLedger(const LedgerFlags& flags, const std::string& job,
                        const std::string& ledger_id);
// The job's receipts as the provenance checks see them.
std::vector<ReceiptFacts> ReceiptsOf(const LedgerAudit& audit);

// "VERIFIED" (both halves checked and passed), "LEDGER-ONLY" (no scheduler named; the ledger
// passed) or "FAILED".
std::string Verdict(bool ledger_ok, const ProvenanceReport& p);
void PrintAuditJson(const std::string& job, const LedgerAudit& audit, const ProvenanceReport& p,
                    const std::string& verdict);
void PrintAuditText(const std::string& job, const std::string& dir, const LedgerAudit& audit,
                    const ProvenanceReport& p, const std::string& verdict);

}  // namespace plume::cli
