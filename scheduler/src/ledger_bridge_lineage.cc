// The ledger bridge's checkpoint requests (ledger_bridge.h): what a training round produced,
// appended as a checkpoint entry (ledger/lineage.h) signed by the ledger key. The core fixed the
// fact when the round closed (LedgerOp::memo, checkpoint_memo.h), so a request re-sent after a
// restart appends the same entry and the ledger answers kIdExists.
#include <spdlog/spdlog.h>

#include "checkpoint_memo.h"
#include "plume/ledger/lineage.h"
#include "plume/scheduler/ledger_bridge.h"

namespace plume::scheduler {

Result<bool> LedgerBridge::Checkpoint(const LedgerOp& op, std::string& refusal) {
  auto fact = ParseCheckpointMemo(op.memo);
  if (!fact) {
    refusal = "checkpoint request " + op.id + ": the fact is malformed: " + op.memo.substr(0, 80);
    return false;
  }
  ledger::Entry e = ledger::MakeCheckpoint(op.job, *fact);
  if (e.id != op.id) {
    refusal = "checkpoint request " + op.id + " carries round " + std::to_string(fact->round);
    return false;
  }
  e.signatures.push_back(ledger::SignEntry(e, ledger_->keys().ledger_id, identity_));
  auto answers = ledger_->Append(std::span<const ledger::Entry>(&e, 1));
  if (!answers) return tl::unexpected(answers.error());
  const ledger::Code code = answers->front().code;
  if (code == ledger::Code::kOk || code == ledger::Code::kIdExists) {
    if (code == ledger::Code::kOk) {
      spdlog::info("job={} entry={} round {} checkpoint {} recorded (#{})", op.job, op.id,
                   fact->round, ToHex(fact->params_out), answers->front().index);
    }
    return true;
  }
  refusal = "checkpoint refused: " + std::string(ledger::CodeName(code));
  return false;
}

}  // namespace plume::scheduler
