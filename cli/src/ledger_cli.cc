// Shared helpers of the ledger commands (see ledger_cli.h).
#include "ledger_cli.h"

#include <cstdlib>
#include <iostream>

#include "commands.h"

namespace plume::cli {
namespace {
std::string EnvOr(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}
}  // namespace

void Fail(int code, const std::string& message) {
  std::cerr << "plume: " << message << "\n";
  throw CommandFailed(code);
}

LedgerFlags ResolveLedgerFlags(LedgerFlags flags) {
  if (flags.dir.empty()) flags.dir = EnvOr("PLUME_LEDGER_DIR", "");
  if (flags.key.empty()) {
    flags.key = EnvOr("PLUME_KEY", EnvOr("HOME", ".") + "/.config/plume/key");
  }
  if (flags.dir.empty()) {
    Fail(kExitBadInput,
         "no ledger directory: pass --ledger-dir <scheduler data dir>/ledger or set "
         "PLUME_LEDGER_DIR");
  }
  return flags;
}

std::unique_ptr<ledger::Ledger> OpenOrFail(const std::string& dir) {
  auto ledger = ledger::Ledger::OpenReadOnly(dir);
  if (!ledger) Fail(kExitBadInput, "cannot open ledger " + dir + ": " + ledger.error().message);
  return std::move(*ledger);
}

Identity LoadKeyOrFail(const std::string& path) {
  auto id = Identity::Load(path);
  if (!id) Fail(kExitBadInput, "key " + path + ": " + id.error().message + " (pass --key)");
  return *id;
}

PublicKey ParseKeyOrFail(const std::string& hex, const std::string& what) {
  auto key = PublicKeyFromHex(hex);
  if (!key) Fail(kExitBadInput, what + " must be 64 hex digits (a key id)");
  return *key;
}

std::string NormalizeAccount(const std::string& account) {
  if (account.size() == 64 && account.find_first_not_of("0123456789abcdef") == std::string::npos) {
    return "team:" + account;
  }
  if (account.starts_with("job-")) return "escrow:" + account;
  return account;
}

}  // namespace plume::cli
