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

// True when the entry debits or credits `account` (settles touch the treasury too).
bool Touches(const Entry& entry, std::string_view account);

// Entries touching `account` (all entries when nullopt), oldest first, at most `limit` of the
// newest ones.
Result<std::vector<LoggedEntry>> History(const Ledger& ledger,
                                         const std::optional<std::string>& account,
                                         size_t limit = 1000);

// One line for humans: "#12 transfer id=t1 team:ab.. -> provider:cd.. 5000000 uPLUME".
std::string DescribeEntry(const LoggedEntry& logged);
// "12.345678 PLUME".
std::string FormatPlume(MicroPlume amount);

}  // namespace plume::ledger
