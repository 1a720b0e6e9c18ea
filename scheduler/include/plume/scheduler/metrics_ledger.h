// Builds the metrics' LedgerView (metrics.h) from the scheduler's ledger. Header-only so that
// plume_scheduler_metrics does not link the ledger; include it where the ledger is linked
// (plume-scheduler's main).
#pragma once

#include <string>

#include "plume/ledger/ledger.h"
#include "plume/scheduler/metrics.h"

namespace plume::scheduler {

// The catalogue's entry type names (docs/metrics.md, plume_ledger_entries_appended_total).
inline std::string CatalogueEntryType(ledger::EntryType type) {
  switch (type) {
    case ledger::EntryType::kOpenAccount: return "open";
    case ledger::EntryType::kMint: return "mint";
    case ledger::EntryType::kTransfer: return "transfer";
    case ledger::EntryType::kEscrowHold: return "hold";
    case ledger::EntryType::kSettle: return "settle";
    case ledger::EntryType::kRelease: return "release";
    case ledger::EntryType::kStake: return "stake";
    case ledger::EntryType::kUnstake: return "stake";  // stake moves, both ways
    case ledger::EntryType::kWithdraw: return "stake";
    case ledger::EntryType::kSlash: return "slash";
    case ledger::EntryType::kTaskReceipt: return "receipt";
    case ledger::EntryType::kVerdict: return "verdict";
    case ledger::EntryType::kGovProposal:
    case ledger::EntryType::kGovVote:
    case ledger::EntryType::kGovOutcome:
    case ledger::EntryType::kGovExecution: return "gov";
  }
  return "transfer";
}

// `ledger` must outlive the metrics' use of the view. Ledger is thread-safe.
inline LedgerView LedgerViewOf(const ledger::Ledger& ledger) {
  LedgerView v;
  v.size = [&ledger] { return ledger.size(); };
  v.scan = [&ledger](uint64_t begin, const std::function<void(const LedgerEntrySeen&)>& each) {
    (void)ledger.ForEachEntry(begin, [&](const ledger::LoggedEntry& e) {
      LedgerEntrySeen seen{CatalogueEntryType(e.entry.type), {}};
      for (const ledger::Leg& leg : e.entry.legs) {
        seen.slash_legs.emplace_back(std::string(ledger::LegKindName(leg.kind)), leg.amount.value());
      }
      each(seen);
      return true;
    });
  };
  return v;
}

}  // namespace plume::scheduler
