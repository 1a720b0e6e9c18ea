// Shared helpers of the ledger commands (cmd_ledger.cc, cmd_ledger_net.cc, cmd_audit.cc):
// flags, choosing between the scheduler and a ledger directory, opening the ledger read-only,
// key and account parsing, and the output both paths print (the same text and JSON whichever
// way the data came). Each failure prints its message and ends the command with an exit code
// (commands.h).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "plume/ledger/ledger.h"
#include "plume/protocol/identity.h"

namespace plume::cli {

struct LedgerFlags {
  std::string dir;  // the scheduler's ledger directory; default $PLUME_LEDGER_DIR
  std::string key;  // key file; default $PLUME_KEY, then ~/.config/plume/key
  bool json = false;
  std::string scheduler;     // tcp://HOST:PORT; default $PLUME_SCHEDULER
  std::string scheduler_id;  // the scheduler's key (hex); default $PLUME_SCHEDULER_ID
};

// Where balance, history, prove and mint go. An explicit --ledger-dir: that directory (the
// operator's offline path on the scheduler's host). Else a scheduler (--scheduler or
// $PLUME_SCHEDULER): over the protocol. Else $PLUME_LEDGER_DIR. Else a bad-input failure
// (exit 2) naming both ways.
enum class LedgerSource { kDirectory, kScheduler };
LedgerSource ChooseLedgerSource(const LedgerFlags& flags);

// Prints "plume: <message>" to stderr and ends the command with `code`.
[[noreturn]] void Fail(int code, const std::string& message);
// Fills defaults from the environment; fails (exit 2) when no ledger directory is known.
LedgerFlags ResolveLedgerFlags(LedgerFlags flags);
// `key` when given, else $PLUME_KEY, else ~/.config/plume/key.
std::string KeyPathOrDefault(const std::string& key);
std::unique_ptr<ledger::Ledger> OpenOrFail(const std::string& dir);
Identity LoadKeyOrFail(const std::string& path);
PublicKey ParseKeyOrFail(const std::string& hex, const std::string& what);
// "team:<hex>", "provider:<hex>", "escrow:<job>", "treasury", "operator" as given; a bare
// 64-hex key means that team; a bare "job-..." means its escrow.
std::string NormalizeAccount(const std::string& account);

// Output shared by the directory and network paths.
nlohmann::json EntryJson(const ledger::LoggedEntry& logged);
void PrintBalance(const std::string& account, std::optional<ledger::MicroPlume> balance,
                  const std::optional<ledger::HoldInfo>& hold, bool as_json);
void PrintHistory(const std::vector<ledger::LoggedEntry>& entries, bool as_json);
// `key_note` follows the key in the text output (e.g. why this key is trusted).
void PrintProof(const ledger::InclusionBundle& bundle, const PublicKey& trusted, bool ok,
                const std::string& key_note, bool as_json);

// Through the scheduler (cmd_ledger_net.cc): the same commands over LedgerQuery/LedgerMint.
// `account` empty: the caller's own team account.
void BalanceOverNet(const LedgerFlags& flags, const std::string& account);
void HistoryOverNet(const LedgerFlags& flags, const std::string& account, size_t limit);
// Checks the inclusion proof against the signed head and `ledger_id` (default: the scheduler's
// id the connection pins, which is the ledger key); exit 1 when it does not verify.
void ProveOverNet(const LedgerFlags& flags, const std::string& entry, const std::string& ledger_id);
// Asks the scheduler for its ledger's id (LedgerHead.ledgerId), signs `mint` for that ledger
// with `op`, and sends it.
void MintOverNet(const LedgerFlags& flags, ledger::Entry mint, const Identity& op);
// The latest signed head, checked against `ledger_id`; with `since` ("SIZE:ROOTHEX" of a head
// seen earlier), also proves that the ledger only grew since then.
void HeadOverNet(const LedgerFlags& flags, const std::string& ledger_id, const std::string& since);

// plume audit JOB (cmd_audit.cc).
void RegisterAuditCommand(CLI::App& app);
// plume lineage JOB|BLOB (cmd_lineage.cc).
void RegisterLineageCommand(CLI::App& app);
// balance, ledger ... (cmd_ledger.cc).
void RegisterLedgerCommands(CLI::App& app);

}  // namespace plume::cli
