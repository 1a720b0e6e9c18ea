// Shared helpers for the ledger tests: a temporary directory (on tmpfs when there is one), a
// cast of principals with keys, and builders for signed entries and receipts.
#pragma once

#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

#include "plume/ledger/entry.h"
#include "plume/ledger/ledger.h"

namespace plume::ledger {
// Readable gtest failure messages.
void PrintTo(const Tranche& t, std::ostream* os);
void PrintTo(Code code, std::ostream* os);
}  // namespace plume::ledger

namespace plume::ledger::test {

// A fresh directory removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct Cast {
  Identity ledger = Identity::Generate();  // the scheduler / ledger key
  Identity operator_id = Identity::Generate();
  Hash256 nonce = NewLedgerNonce();  // of every ledger opened with options()
  LedgerId id{};                     // of those ledgers: what the cast's entries are signed for
  std::vector<Identity> teams;
  std::vector<Identity> agents;
  explicit Cast(int team_count = 2, int agent_count = 2);
  Keys keys() const { return Keys{ledger.public_key(), operator_id.public_key(), id}; }
  // Options that create ledgers with this cast's id.
  LedgerOptions options() const;
  std::string team(int i) const { return TeamAccount(teams[i].public_key()); }
  std::string provider(int i) const { return ProviderAccount(agents[i].public_key()); }
};

Entry Signed(const LedgerId& ledger, Entry e, const Identity& signer);
Entry Signed(const LedgerId& ledger, Entry e, const Identity& a, const Identity& b);

// A receipt from `agent`, signed by it and countersigned by `scheduler`, for ledger `ledger`.
TaskReceipt MakeSignedReceipt(const LedgerId& ledger, const std::string& job,
                              const std::string& task, const Identity& agent,
                              const Identity& scheduler, uint64_t flops,
                              uint64_t price_micro_plume_per_pflop, uint32_t fee_bps);

// Opens every team and provider account and mints `each` (if > 0) to every team.
std::vector<Entry> Genesis(const Cast& cast, MicroPlume each);

// Appends and asserts the I/O succeeded; returns the codes.
std::vector<Code> AppendCodes(Ledger& ledger, const std::vector<Entry>& entries);

std::vector<uint8_t> ReadFile(const std::filesystem::path& path);
void WriteFile(const std::filesystem::path& path, const std::vector<uint8_t>& bytes);

}  // namespace plume::ledger::test
