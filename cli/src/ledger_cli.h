// Shared helpers of the ledger commands (cmd_ledger.cc, cmd_audit.cc): flags, opening the
// ledger read-only, key and account parsing. Each failure prints its message and ends the
// command with an exit code (commands.h).
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "plume/ledger/ledger.h"
#include "plume/protocol/identity.h"

namespace plume::cli {

struct LedgerFlags {
  std::string dir;  // the scheduler's ledger directory; default $PLUME_LEDGER_DIR
  std::string key;  // key file; default $PLUME_KEY, then ~/.config/plume/key
  bool json = false;
};

// Prints "plume: <message>" to stderr and ends the command with `code`.
[[noreturn]] void Fail(int code, const std::string& message);
// Fills defaults from the environment; fails (exit 2) when no ledger directory is known.
LedgerFlags ResolveLedgerFlags(LedgerFlags flags);
std::unique_ptr<ledger::Ledger> OpenOrFail(const std::string& dir);
Identity LoadKeyOrFail(const std::string& path);
PublicKey ParseKeyOrFail(const std::string& hex, const std::string& what);
// "team:<hex>", "provider:<hex>", "escrow:<job>", "treasury", "operator" as given; a bare
// 64-hex key means that team; a bare "job-..." means its escrow.
std::string NormalizeAccount(const std::string& account);

// plume audit JOB (cmd_audit.cc).
void RegisterAuditCommand(CLI::App& app);
// balance, ledger ... (cmd_ledger.cc).
void RegisterLedgerCommands(CLI::App& app);

}  // namespace plume::cli
