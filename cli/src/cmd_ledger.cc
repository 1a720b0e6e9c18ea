// Ledger commands of `plume`: balance, ledger verify/history/prove/mint. They read the
// scheduler's ledger directory (<scheduler data dir>/ledger) directly with a read-only open,
// which any number of readers may do while the scheduler writes (ledger.h). Why files and not
// the protocol: the schema has no ledger query messages yet; an operator runs these on the
// scheduler's host (or on a copy of the directory). `mint` hands an operator-signed entry to
// the scheduler through <dir>/inbox (see ledger_inbox.h); the ledger itself checks the
// operator's signature, so the inbox grants nothing a forged file could use.
// Exit codes: 0 ok, 1 failure (including a ledger that does not verify), 2 bad input.
#include <chrono>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "commands.h"
#include "ledger_cli.h"
#include "plume/ledger/ledger.h"
#include "plume/ledger/query.h"
#include "plume/ledger/verify.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "plume/scheduler/ledger_inbox.h"

namespace plume::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using namespace plume::ledger;

void RunVerify(const std::string& dir, bool as_json) {
  auto report = Verify(dir);
  if (!report) Fail(kExitBadInput, "cannot read ledger in " + dir + ": " + report.error().message);
  if (as_json) {
    json j{{"ok", report->ok},
           {"entries", report->entries},
           {"heads", report->heads},
           {"problem", report->problem},
           {"minted_micro_plume", report->minted.value()}};
    if (report->first_bad_entry) j["first_bad_entry"] = *report->first_bad_entry;
    if (report->last_head) j["root"] = ToHex(report->last_head->root);
    json balances = json::object();
    for (const auto& [account, amount] : report->balances) balances[account] = amount.value();
    j["balances"] = balances;
    std::cout << j.dump() << "\n";
  } else {
    std::cout << DescribeReport(*report);
    if (report->ok) {
      for (const auto& [account, amount] : report->balances) {
        std::cout << "  " << account << " " << FormatPlume(amount) << "\n";
      }
    }
    std::cout << (report->ok ? "VERIFIED" : "FAILED") << ": " << dir << "\n";
  }
  if (!report->ok) throw CommandFailed(kExitFailure);
}

void RunBalance(const LedgerFlags& flags, const std::string& who) {
  std::string account = who;
  if (account.empty()) account = TeamAccount(LoadKeyOrFail(flags.key).public_key());
  account = NormalizeAccount(account);
  auto ledger = OpenOrFail(flags.dir);
  const auto balance = ledger->Balance(account);
  const auto hold = account.starts_with("escrow:") ? ledger->Hold(account.substr(7)) : std::nullopt;
  if (flags.json) {
    json j{{"account", account},
           {"open", balance.has_value()},
           {"balance_micro_plume", balance ? balance->value() : 0}};
    if (hold) {
      j["hold"] = {{"team", hold->team},
                   {"held", hold->held.value()},
                   {"paid", hold->paid.value()},
                   {"fees", hold->fees.value()},
                   {"released", hold->released.value()},
                   {"closed", hold->closed}};
    }
    std::cout << j.dump() << "\n";
    return;
  }
  if (!balance) {
    std::cout << account << ": no such account (never opened or credited)\n";
    return;
  }
  std::cout << account << " " << FormatPlume(*balance) << " (" << balance->value()
            << " micro-PLUME)\n";
  if (hold) {
    std::cout << "  held " << hold->held.value() << ", paid " << hold->paid.value() << ", fees "
              << hold->fees.value() << ", released " << hold->released.value()
              << (hold->closed ? " (closed)" : " (open)") << " micro-PLUME\n";
  }
}

json EntryJson(const LoggedEntry& l) {
  const Entry& e = l.entry;
  json j{{"index", l.index},
         {"id", e.id},
         {"type", std::string(EntryTypeName(e.type))},
         {"from", e.from},
         {"to", e.to},
         {"amount_micro_plume", e.amount.value()},
         {"job", e.job},
         {"leaf", ToHex(l.leaf_hash)}};
  if (e.receipt) {
    const TaskReceipt& r = *e.receipt;
    j["receipt"] = {{"task", r.task_id},
                    {"attempt", r.attempt},
                    {"flops", r.flops},
                    {"agent", ToHex(r.agent)},
                    {"output", ToHex(r.output_hash)},
                    {"price_micro_plume_per_pflop", r.price_micro_plume_per_pflop},
                    {"fee_bps", r.fee_bps}};
  }
  return j;
}

void RunHistory(const LedgerFlags& flags, const std::string& account, size_t limit) {
  auto ledger = OpenOrFail(flags.dir);
  std::optional<std::string> filter;
  if (!account.empty()) filter = NormalizeAccount(account);
  auto entries = History(*ledger, filter, limit);
  if (!entries) Fail(kExitFailure, "reading " + flags.dir + ": " + entries.error().message);
  if (flags.json) {
    json arr = json::array();
    for (const LoggedEntry& l : *entries) arr.push_back(EntryJson(l));
    std::cout << arr.dump() << "\n";
    return;
  }
  if (entries->empty()) std::cout << "no entries\n";
  for (const LoggedEntry& l : *entries) std::cout << DescribeEntry(l) << "\n";
}

// ENTRY is an entry index (digits) or an entry id ("hold:job-..", "mint:..").
void RunProve(const LedgerFlags& flags, const std::string& entry, const std::string& ledger_id) {
  auto ledger = OpenOrFail(flags.dir);
  std::optional<uint64_t> index = ledger->IndexOf(entry);
  if (!index && !entry.empty() && entry.find_first_not_of("0123456789") == std::string::npos) {
    index = std::stoull(entry);
  }
  if (!index || *index >= ledger->size()) {
    Fail(kExitBadInput, "no entry '" + entry + "' in " + flags.dir +
                            " (give an entry id or an index below " +
                            std::to_string(ledger->size()) + ")");
  }
  // The key the head must be signed by: the one the caller trusts (the scheduler's id), else
  // the key in the log header, which proves only consistency with that file.
  PublicKey trusted = ledger->keys().ledger;
  if (!ledger_id.empty()) trusted = ParseKeyOrFail(ledger_id, "--ledger-id");
  auto bundle = ledger->ProveInclusion(*index);
  if (!bundle) Fail(kExitFailure, "building the proof: " + bundle.error().message);
  const bool ok = CheckInclusion(*bundle, trusted);
  if (flags.json) {
    json path = json::array();
    for (const Hash256& h : bundle->path) path.push_back(ToHex(h));
    std::cout << json{{"ok", ok},
                      {"entry", EntryJson(bundle->logged)},
                      {"path", path},
                      {"tree_size", bundle->head.tree_size},
                      {"root", ToHex(bundle->head.root)},
                      {"head_signature", ToHex(bundle->head.signature)},
                      {"ledger_key", ToHex(trusted)}}
                     .dump()
              << "\n";
  } else {
    std::cout << DescribeEntry(bundle->logged) << "\n"
              << "  leaf " << ToHex(bundle->logged.leaf_hash) << "\n"
              << "  path of " << bundle->path.size() << " hashes to root "
              << ToHex(bundle->head.root) << " of a tree of " << bundle->head.tree_size
              << " entries\n"
              << "  head signed by " << ToHex(trusted)
              << (ledger_id.empty() ? " (key from the log header; pass --ledger-id to pin it)" : "")
              << "\n"
              << (ok ? "PROVEN" : "NOT PROVEN") << ": entry #" << *index << "\n";
  }
  if (!ok) throw CommandFailed(kExitFailure);
}

void RunMint(const LedgerFlags& flags, const std::string& to, int64_t amount, std::string id,
             int wait_s) {
  if (amount <= 0) Fail(kExitBadInput, "--amount must be a positive number of micro-PLUME");
  const std::string account = NormalizeAccount(to);
  if (std::string why = AccountNameProblem(account); !why.empty()) {
    Fail(kExitBadInput, "--to " + to + ": " + why);
  }
  const Identity op = LoadKeyOrFail(flags.key);
  if (id.empty()) {
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    id = "mint:" + std::to_string(now_us);
  }
  Entry mint = MakeMint(id, account, MicroPlume(amount));
  mint.signatures.push_back(SignEntry(mint, op));
  if (auto st = scheduler::WriteInboxEntry(flags.dir, mint); !st)
    Fail(kExitFailure, st.error().message);
  std::cout << "queued " << id << ": mint " << FormatPlume(MicroPlume(amount)) << " to " << account
            << " (signed by " << op.Id().substr(0, 16) << "..)\n";
  if (wait_s <= 0) return;
  // Wait until the scheduler has appended it (or refused it: a .refused file names why).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_s);
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto refused = scheduler::ReadInboxRefusal(flags.dir, id)) {
      Fail(kExitFailure, "the ledger refused " + id + ": " + *refused);
    }
    if (auto ledger = Ledger::OpenReadOnly(flags.dir); ledger && (*ledger)->IndexOf(id)) {
      std::cout << "applied " << id << " as entry #" << *(*ledger)->IndexOf(id) << "\n";
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  Fail(kExitFailure, "the scheduler did not apply " + id + " within " + std::to_string(wait_s) +
                         " s: is plume-scheduler running with --operator-id on " + flags.dir + "?");
}

void AddCommonFlags(CLI::App* cmd, LedgerFlags& flags) {
  cmd->add_option("--ledger-dir", flags.dir,
                  "the scheduler's ledger directory (default $PLUME_LEDGER_DIR)");
  cmd->add_flag("--json", flags.json, "machine-readable output");
}

}  // namespace

void RegisterLedgerCommands(CLI::App& app) {
  static LedgerFlags flags;
  static std::string account, entry, ledger_id, to, id, dir;
  static size_t limit = 1000;
  static int64_t amount = 0;
  static int wait_s = 10;

  auto* balance = app.add_subcommand("balance", "an account's balance (default: your team)");
  balance->add_option("account", account, "team:/provider:/escrow:/treasury, or a bare key hex");
  balance->add_option("--key", flags.key, "your key file (default $PLUME_KEY)");
  AddCommonFlags(balance, flags);
  balance->callback([] { RunBalance(ResolveLedgerFlags(flags), account); });

  auto* ledger = app.add_subcommand("ledger", "verify, inspect, prove and mint ledger entries");
  ledger->require_subcommand(1);

  auto* verify = ledger->add_subcommand("verify", "check a ledger directory offline");
  verify->add_option("dir", dir, "ledger directory")->required();
  verify->add_flag("--json", flags.json, "machine-readable output");
  verify->callback([] { RunVerify(dir, flags.json); });

  auto* history = ledger->add_subcommand("history", "entries, oldest first");
  history->add_option("--account", account, "only entries touching this account");
  history->add_option("--limit", limit, "at most this many of the newest entries");
  AddCommonFlags(history, flags);
  history->callback([] { RunHistory(ResolveLedgerFlags(flags), account, limit); });

  auto* prove = ledger->add_subcommand("prove", "inclusion proof checked against a signed head");
  prove->add_option("entry", entry, "entry id or index")->required();
  prove->add_option("--ledger-id", ledger_id, "the ledger (scheduler) public key to trust");
  AddCommonFlags(prove, flags);
  prove->callback([] { RunProve(ResolveLedgerFlags(flags), entry, ledger_id); });

  auto* mint = ledger->add_subcommand("mint", "operator only: credit an account");
  mint->add_option("--to", to, "account (team:<key>, provider:<key>, or a bare key = team)")
      ->required();
  mint->add_option("--amount", amount, "micro-PLUME (1 PLUME = 1000000)")->required();
  mint->add_option("--id", id, "entry id (a retry with the same id mints once)");
  mint->add_option("--key", flags.key, "the operator's key file (default $PLUME_KEY)");
  mint->add_option("--wait", wait_s, "seconds to wait for the scheduler to apply it (0: no)");
  AddCommonFlags(mint, flags);
  mint->callback([] { RunMint(ResolveLedgerFlags(flags), to, amount, id, wait_s); });

  RegisterAuditCommand(app);
}

}  // namespace plume::cli
