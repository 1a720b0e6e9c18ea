// `plume audit JOB`: the job's money and provenance, each part checked.
// Ledger (read offline from --ledger-dir): the whole ledger verifies (hashes, signatures, Merkle
// root, balances), every entry of the job is proven included under a head signed by the trusted
// ledger key, every receipt carries a valid agent signature and scheduler countersignature, no
// task is paid twice, each settle pays exactly price x FLOPs (+ fee), and the hold adds up:
// held = paid + fees + released + what escrow still has.
// Provenance (from the scheduler, when one is named: audit_run.cc): the spec hash, the data the
// receipts read, the chain of round checkpoints, a replay of every round's outer step, and the
// final output (audit_provenance.h), and every dispute verdict recomputed from the evidence blob
// it names (audit_evidence.h).
// Exit codes: 0 verified (or: ledger verified and no scheduler named, said so plainly), 1 a
// check failed or a named scheduler could not be asked, 2 bad input. docs/payments.md.
#include <string>

#include "audit_fetch.h"
#include "audit_ledger.h"
#include "commands.h"
#include "ledger_cli.h"

namespace plume::cli {
namespace {

void RunAudit(const LedgerFlags& flags, const std::string& job, const std::string& ledger_id,
              const ProvenanceOptions& provenance, bool require_provenance) {
  const LedgerAudit audit = CheckLedger(flags, job, ledger_id);
  const ProvenanceReport p = CheckProvenance(provenance, job, ReceiptsOf(audit), audit.entries);
  std::string verdict = Verdict(audit.problems.empty(), p);
  if (verdict == "LEDGER-ONLY" && require_provenance) verdict = "FAILED";
  if (flags.json) {
    PrintAuditJson(job, audit, p, verdict);
  } else {
    PrintAuditText(job, flags.dir, audit, p, verdict);
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
                    "the job's spec file: its BLAKE2b-256 must be the job's spec hash; round 0 "
                    "must start from the model its seed initialises, and the rounds must use "
                    "its outer lr/momentum, rounds and workers; each dispute evidence blob's "
                    "size must be its local_steps, or its prompts per shard");
  audit->add_flag("--require-provenance", require_provenance,
                  "fail (exit 1) when no scheduler is named, instead of a ledger-only audit");
  audit->add_flag("--json", flags.json, "machine-readable output");
  audit->footer(
      "Exit codes: 0 verified (ledger and provenance), or LEDGER VERIFIED, PROVENANCE NOT CHECKED "
      "when no scheduler is named; 1 a check failed, or a named scheduler could not be asked; "
      "2 bad input.");
  audit->callback(
      [] { RunAudit(ResolveLedgerFlags(flags), job, ledger_id, provenance, require_provenance); });
}

}  // namespace plume::cli
