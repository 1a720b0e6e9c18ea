// Read-side helpers behind the CLI (`plume balance`, `plume ledger history`, `plume ledger
// prove`): they work on any open Ledger, usually Ledger::OpenReadOnly(dir).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plume/ledger/ledger.h"

namespace plume::ledger {

// Every account the entry debits or credits: from and to, the treasury for a settle (its fee),
// and for a slash the unbond account it may reach and each leg's account. Sorted, no repeats.
std::vector<std::string> TouchedAccounts(const Entry& entry);
// True when `account` is one of TouchedAccounts(entry).
bool Touches(const Entry& entry, std::string_view account);

// Entries touching `account` (all entries when nullopt), oldest first, at most `limit` of the
// newest ones.
Result<std::vector<LoggedEntry>> History(const Ledger& ledger,
                                         const std::optional<std::string>& account,
                                         size_t limit = 1000);

// One line for humans: "#12 transfer id=t1 team:ab.. -> provider:cd.. 5.000000 PLUME", naming
// every entry type; unstakes add their release time, withdraws their time, slashes every leg
// ("clawback team:.. 0.000100 PLUME") and the memo (quoted, control bytes escaped).
std::string DescribeEntry(const LoggedEntry& logged);
// "12.345678 PLUME".
std::string FormatPlume(MicroPlume amount);

}  // namespace plume::ledger
