// Per-task money of `plume audit` (audit_money.h).
#include "audit_money.h"

namespace plume::cli {

std::map<std::string, TaskMoney> MoneyByTask(const std::vector<ledger::LoggedEntry>& entries) {
  using ledger::EntryType;
  std::map<std::string, TaskMoney> out;
  for (const ledger::LoggedEntry& l : entries) {
    const ledger::Entry& e = l.entry;
    if (!e.receipt || (e.type != EntryType::kSettle && e.type != EntryType::kSlash)) continue;
    TaskMoney& m = out[e.receipt->task_id];
    m.provider = ToHex(e.receipt->agent);
    if (e.type == EntryType::kSettle) {
      const auto pay = ledger::PayForFlops(e.receipt->price_micro_plume_per_pflop, e.receipt->flops);
      if (!pay) continue;  // the ledger refuses such a settle; CheckLedger reports it
      m.paid += pay->value();
      m.fee += ledger::FeeFor(*pay, e.receipt->fee_bps).value();
      continue;
    }
    m.slashed += e.amount.value();
    for (const ledger::Leg& leg : e.legs) {
      switch (leg.kind) {
        case ledger::LegKind::kClawback: m.clawback += leg.amount.value(); break;
        case ledger::LegKind::kCompensation: m.compensation += leg.amount.value(); break;
        case ledger::LegKind::kFinder: m.finder += leg.amount.value(); break;
        case ledger::LegKind::kTreasury: m.treasury += leg.amount.value(); break;
      }
    }
  }
  return out;
}

}  // namespace plume::cli
