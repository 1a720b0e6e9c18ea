// `plume lineage JOB|BLOB`: the chain from an output back to the model, the training job, its
// rounds, the datasets and their owners and the providers of every step, each link re-derived
// from a ledger entry proven against a head the ledger key signed (lineage.h). Reads the
// scheduler's ledger directory offline, like `plume audit`. Exit codes: 0 the chain verifies;
// 1 it does not (a gap, a link that does not follow, a proof that fails, or a blob no entry
// produced); 2 bad input.
#include "commands.h"
#include "ledger_cli.h"
#include "lineage_ledger.h"

namespace plume::cli {

void RegisterLineageCommand(CLI::App& app) {
  static LedgerFlags flags;
  static std::string target, ledger_id;
  auto* cmd = app.add_subcommand(
      "lineage",
      "trace an inference output, a model or a job back to the training job, its rounds, the "
      "datasets and their owners, and the providers of each step, with a ledger proof for each "
      "link");
  cmd->add_option("target", target, "a job id, or a blob's BLAKE2b-256 (64 hex digits)")
      ->required();
  cmd->add_option("--ledger-dir", flags.dir, "the scheduler's ledger directory");
  cmd->add_option("--ledger-id", ledger_id, "the ledger (scheduler) public key to trust");
  cmd->add_flag("--json", flags.json, "machine-readable output");
  cmd->footer("Exit codes: 0 the chain verifies; 1 it does not, or nothing in the ledger "
              "produced the blob; 2 bad input.");
  cmd->callback([] {
    const LedgerFlags f = ResolveLedgerFlags(flags);
    auto ledger = OpenOrFail(f.dir);
    const PublicKey trusted =
        ledger_id.empty() ? ledger->keys().ledger : ParseKeyOrFail(ledger_id, "--ledger-id");
    auto report = TraceLineage(*ledger, target, trusted);
    if (!report) Fail(kExitFailure, "reading " + f.dir + ": " + report.error().message);
    if (f.json) {
      PrintLineageJson(*report);
    } else {
      PrintLineageText(*report);
    }
    if (!report->check.ok()) throw CommandFailed(kExitFailure);
  });
}

}  // namespace plume::cli
