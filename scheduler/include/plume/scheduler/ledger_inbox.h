// The ledger inbox: how signed entries that only their signer can make (an operator's mint)
// reach the scheduler's ledger without a protocol message for them yet. `plume ledger mint`
// writes one encoded, signed entry per file into <ledger dir>/inbox/<hex of id>.entry (temp
// file + rename, so a reader never sees half a file); the scheduler appends them in name order
// and removes each file after the ledger answered. A refused entry leaves
// <hex of id>.refused holding the reason. The inbox grants nothing: the ledger checks every
// signature and rule itself, so a forged file is refused like a forged message would be.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "plume/ledger/entry.h"
#include "plume/ledger/ledger.h"
#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"

namespace plume::scheduler {

inline constexpr size_t kInboxFilesPerDrainMax = 256;

// Writes `entry` (signed) into dir/inbox.
Status WriteInboxEntry(const std::filesystem::path& ledger_dir, const ledger::Entry& entry);
// The refusal reason recorded for entry `id`, if the ledger refused it.
std::optional<std::string> ReadInboxRefusal(const std::filesystem::path& ledger_dir,
                                            const std::string& id);

struct DrainResult {
  size_t applied = 0;  // appended now, or already present (a repeated id)
  size_t refused = 0;  // refused by the ledger or unreadable; a .refused file says why
  std::vector<std::string> stake_agents;  // agents whose stake:/unbond: an appended entry moved
};
// The agent (hex key) of a stake:<key> or unbond:<key> account; "" for any other account.
std::string StakeAgentOf(std::string_view account);
// Appends up to kInboxFilesPerDrainMax inbox entries to `ledger`, one batch. A team: or
// provider: account an entry credits that is not open yet is opened first with an
// open_account entry signed by `opener` (the ledger key), since a mint needs an open account.
// An Error means an I/O failure of the ledger or the directory; the files stay for the next
// drain.
Result<DrainResult> DrainInbox(const std::filesystem::path& ledger_dir, ledger::Ledger& ledger,
                               const Identity& opener);
// The id of the open_account entry the scheduler writes for `account` (<= 64 bytes).
std::string OpenAccountId(const std::string& account);

}  // namespace plume::scheduler
