// The scheduler's side of the ledger (see ledger_bridge.h).
#include "plume/scheduler/ledger_bridge.h"

#include <spdlog/spdlog.h>

#include "plume/ledger/entry.h"
#include "plume/ledger/query.h"
#include "plume/protocol/hash.h"

namespace plume::scheduler {

Result<std::unique_ptr<LedgerBridge>> LedgerBridge::Open(const std::filesystem::path& dir,
                                                         const Identity& scheduler,
                                                         const PublicKey& operator_key,
                                                         std::chrono::milliseconds inbox_poll) {
  auto ledger = ledger::Ledger::Open(dir, scheduler, operator_key);
  if (!ledger) return Fail("ledger " + dir.string() + ": " + ledger.error().message);
  std::unique_ptr<LedgerBridge> bridge(new LedgerBridge(scheduler));
  bridge->dir_ = dir;
  bridge->ledger_ = std::move(*ledger);
  if (inbox_poll.count() > 0) {
    LedgerBridge* b = bridge.get();
    bridge->poller_ = std::thread([b, inbox_poll] {
      while (!b->stop_.load()) {
        if (auto d = b->DrainInbox(); !d) spdlog::warn("ledger inbox: {}", d.error().message);
        std::this_thread::sleep_for(inbox_poll);
      }
    });
  }
  return bridge;
}

LedgerBridge::~LedgerBridge() {
  stop_.store(true);
  if (poller_.joinable()) poller_.join();
}

Result<DrainResult> LedgerBridge::DrainInbox() {
  auto drained = scheduler::DrainInbox(dir_, *ledger_, identity_);
  if (drained && (drained->applied > 0 || drained->refused > 0)) {
    spdlog::info("ledger inbox: {} applied, {} refused", drained->applied, drained->refused);
  }
  return drained;
}

Result<bool> LedgerBridge::Apply(const LedgerOp& op, std::string& refusal) {
  // A mint queued just before a submit must count for that submit's hold.
  if (auto drained = DrainInbox(); !drained) return tl::unexpected(drained.error());
  switch (op.kind) {
    case LedgerOpKind::kHold: {
      auto key = PublicKeyFromHex(op.owner);
      if (!key) {
        refusal = "job owner " + op.owner + " is not a key id";
        return false;
      }
      const std::string team = ledger::TeamAccount(*key);
      const ledger::MicroPlume have = ledger_->Balance(team).value_or(ledger::MicroPlume(0));
      if (have.value() < op.amount_micro_plume) {
        refusal = "insufficient balance: " + team.substr(0, 21) + ".. has " +
                  std::to_string(have.value()) + " micro-PLUME, the job's escrow needs " +
                  std::to_string(op.amount_micro_plume) +
                  " (ask the operator: plume ledger mint --to " + team + ")";
        spdlog::warn("job={} entry={} refused: {}", op.job, op.id, refusal);
        return false;
      }
      spdlog::info("job={} entry={} balance {} covers escrow {} (hold entry needs the team's "
                   "signature: not appended)",
                   op.job, op.id, have.value(), op.amount_micro_plume);
      return true;
    }
    case LedgerOpKind::kSettle:
      spdlog::debug("job={} task={} entry={} not settled in the ledger (no ledger-form receipt)",
                    op.job, op.task, op.id);
      return true;
    case LedgerOpKind::kRelease:
      return true;
  }
  refusal = "unknown ledger request";
  return false;
}

}  // namespace plume::scheduler
