// The ledger bridge's verification records (ledger_bridge.h): an audit's verdict, appended as a
// verdict entry (ledger/verdict.h) signed by the ledger key, and the receipt of a run proven
// faulty that nobody paid, appended as a task_receipt entry (it moves nothing) from the settle
// kept when its result was accepted. The core fixed both when the audit concluded (LedgerOp), so
// a request re-sent after a restart appends the same entry and the ledger answers kIdExists.
#include <spdlog/spdlog.h>

#include "verdict_memo.h"
#include "plume/ledger/verdict.h"
#include "plume/scheduler/ledger_bridge.h"

namespace plume::scheduler {
namespace {

// kOk and kIdExists: recorded (now or before); anything else is the refusal.
Result<bool> AppendOne(ledger::Ledger& ledger, ledger::Entry& e, const Identity& key,
                       const LedgerOp& op, std::string& refusal) {
  e.signatures.push_back(ledger::SignEntry(e, ledger.keys().ledger_id, key));
  auto answers = ledger.Append(std::span<const ledger::Entry>(&e, 1));
  if (!answers) return tl::unexpected(answers.error());
  const ledger::Code code = answers->front().code;
  if (code == ledger::Code::kOk || code == ledger::Code::kIdExists) {
    if (code == ledger::Code::kOk) {
      spdlog::info("job={} task={} entry={} recorded (#{})", op.job, op.task, op.id,
                   answers->front().index);
    }
    return true;
  }
  refusal = std::string(ledger::EntryTypeName(e.type)) + " refused: " +
            std::string(ledger::CodeName(code));
  spdlog::error("job={} task={} entry={}: {}", op.job, op.task, op.id, refusal);
  return false;
}

}  // namespace

Result<bool> LedgerBridge::Verdict(const LedgerOp& op, std::string& refusal) {
  auto fact = ParseVerdictMemo(op.memo);
  if (!fact) {
    refusal = "verdict request " + op.id + ": the verdict is malformed: " + op.memo.substr(0, 80);
    return false;
  }
  ledger::Entry e = ledger::MakeVerdict(op.job, *fact);
  if (e.id != op.id) {
    refusal = "verdict request " + op.id + " carries task " + fact->task.substr(0, 80);
    return false;
  }
  return AppendOne(*ledger_, e, identity_, op, refusal);
}

Result<bool> LedgerBridge::Receipt(const LedgerOp& op, std::string& refusal) {
  if (ledger_->IndexOf(op.id)) return true;  // re-sent after a restart
  auto receipt = FaultyReceipt(op);
  if (!receipt) return tl::unexpected(receipt.error());
  if (!*receipt || (*receipt)->attempt != op.attempt) {
    refusal = "no countersigned receipt of " + op.task + " attempt " +
              std::to_string(op.attempt) + " is kept: its verdict names a run the ledger lacks";
    spdlog::error("job={} task={} entry={}: {}", op.job, op.task, op.id, refusal);
    return false;
  }
  ledger::Entry e = ledger::MakeTaskReceipt(op.id, **receipt);
  return AppendOne(*ledger_, e, identity_, op, refusal);
}

}  // namespace plume::scheduler
