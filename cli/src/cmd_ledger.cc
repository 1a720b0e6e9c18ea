// Ledger commands of `plume`: balance, ledger history/prove/mint/head/verify.
//
// Two ways to the ledger. By default these go through the scheduler over the protocol
// (LedgerQuery/LedgerMint, cmd_ledger_net.cc), so teams and providers use them from their own
// machines: balances and history as the scheduler answers them, inclusion proofs checked here
// against a signed tree head and the ledger key this side trusts (the scheduler id the
// connection pins, or --ledger-id), mints signed here by the operator key and refused by the
// ledger itself when any other key signed them. With --ledger-dir D (or $PLUME_LEDGER_DIR and
// no scheduler given) they read the scheduler's ledger directory directly, read-only, which any
// number of readers may do while the scheduler writes (ledger.h): the operator's path on the
// scheduler's host or on a copy; there `mint` hands the signed entry to the scheduler through
// <dir>/inbox (ledger_inbox.h). `ledger verify DIR` is always offline: it recomputes everything
// from the log. Both paths print the same text and JSON (ledger_cli.h).
// Exit codes: 0 ok, 1 failure (including a proof or ledger that does not verify, an
// unreachable scheduler, a refused mint), 2 bad input.
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
#include "plume/ledger/limits.h"
#include "plume/ledger/query.h"
#include "plume/gov/book.h"
#include "plume/ledger/verify.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "plume/scheduler/ledger_inbox.h"

namespace plume::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using namespace plume::ledger;

// Every governance tally recounted from the verified log's entries alone (gov/book.h).
gov::RecountReport RecountGovernance(const std::string& dir) {
  gov::Recounter recounter;
  auto ledger = OpenOrFail(dir);
  auto s = ledger->ForEachEntry(0, [&](const LoggedEntry& l) { return recounter.Add(l.entry); });
  gov::RecountReport report = recounter.Finish();
  if (!s && report.ok) {
    report.ok = false;
    report.problem = "cannot read the entries: " + s.error().message;
  }
  return report;
}

void RunVerify(const std::string& dir, bool as_json) {
  auto report = Verify(dir);
  if (!report) Fail(kExitBadInput, "cannot read ledger in " + dir + ": " + report.error().message);
  if (report->ok) {
    const gov::RecountReport gov = RecountGovernance(dir);
    if (!gov.ok) {
      report->ok = false;
      report->problem = "governance recount: " + gov.problem;
    }
    if (!as_json) {
      std::cout << "governance: " << gov.proposals << " proposals, " << gov.votes << " votes, "
                << gov.outcomes << " outcomes recounted" << (gov.ok ? "" : " (MISMATCH)") << "\n";
    }
  }
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
  const auto hold = account.starts_with("escrow:") ? ledger->Hold(account.substr(7)) : std::nullopt;
  PrintBalance(account, ledger->Balance(account), hold, flags.json);
}

void RunHistory(const LedgerFlags& flags, const std::string& account, size_t limit) {
  auto ledger = OpenOrFail(flags.dir);
  std::optional<std::string> filter;
  if (!account.empty()) filter = NormalizeAccount(account);
  auto entries = History(*ledger, filter, limit);
  if (!entries) Fail(kExitFailure, "reading " + flags.dir + ": " + entries.error().message);
  PrintHistory(*entries, flags.json);
}

// ENTRY is an entry index (digits) or an entry id ("hold:job-..", "mint:..").
void RunProve(const LedgerFlags& flags, const std::string& entry, const std::string& ledger_id) {
  auto ledger = OpenOrFail(flags.dir);
  std::optional<uint64_t> index = ledger->IndexOf(entry);
  if (!index && !entry.empty() && entry.size() < 20 &&
      entry.find_first_not_of("0123456789") == std::string::npos) {
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
  PrintProof(*bundle, trusted, ok,
             ledger_id.empty() ? " (key from the log header; pass --ledger-id to pin it)" : "",
             flags.json);
  if (!ok) throw CommandFailed(kExitFailure);
}

// The operator's mint (unsigned until the ledger's id is known), checked here so that bad input
// never leaves this machine.
Entry CheckedMint(const std::string& to, int64_t amount, std::string id) {
  if (amount <= 0) Fail(kExitBadInput, "--amount must be a positive number of micro-PLUME");
  const std::string account = NormalizeAccount(to);
  if (std::string why = AccountNameProblem(account); !why.empty()) {
    Fail(kExitBadInput, "--to " + to + ": " + why);
  }
  if (id.empty()) {
    const auto now_us = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    id = "mint:" + std::to_string(now_us);
  }
  if (id.size() > kEntryIdBytesMax) {
    Fail(kExitBadInput, "--id is at most " + std::to_string(kEntryIdBytesMax) + " bytes");
  }
  return MakeMint(id, account, MicroPlume(amount));
}

// The id of the ledger in `dir`, from its log header: what an offline mint is signed for.
LedgerId LocalLedgerId(const std::string& dir) {
  auto reader = LogReader::Open(std::filesystem::path(dir) / "ledger.log");
  if (!reader) Fail(kExitFailure, reader.error().message);
  return LedgerIdOf((*reader)->header());
}

// The offline path: drop the entry into <dir>/inbox and wait for the scheduler to apply it.
void RunMintViaInbox(const LedgerFlags& flags, const Entry& mint, int wait_s) {
  const std::string& id = mint.id;
  if (auto st = scheduler::WriteInboxEntry(flags.dir, mint); !st)
    Fail(kExitFailure, st.error().message);
  std::cout << "queued " << id << ": mint " << FormatPlume(mint.amount) << " to " << mint.to
            << " (signed by " << ToHex(mint.signatures.front().signer).substr(0, 16) << "..)\n";
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

void AddCommonFlags(CLI::App* cmd, LedgerFlags& flags, const std::string& key_help) {
  cmd->add_option("--scheduler", flags.scheduler,
                  "scheduler endpoint tcp://HOST:PORT (default $PLUME_SCHEDULER)");
  cmd->add_option("--scheduler-id", flags.scheduler_id,
                  "the scheduler's public key, hex (default $PLUME_SCHEDULER_ID)");
  cmd->add_option("--key", flags.key, key_help + " (default $PLUME_KEY)");
  cmd->add_option("--ledger-dir", flags.dir,
                  "read this ledger directory instead of asking the scheduler (offline; "
                  "default $PLUME_LEDGER_DIR when no scheduler is given)");
  cmd->add_flag("--json", flags.json, "machine-readable output");
}

bool Offline(const LedgerFlags& flags) {
  return ChooseLedgerSource(flags) == LedgerSource::kDirectory;
}

}  // namespace

void RegisterLedgerCommands(CLI::App& app) {
  static LedgerFlags flags;
  static std::string account, entry, ledger_id, to, id, dir, since;
  static size_t limit = 1000;
  static int64_t amount = 0;
  static int wait_s = 10;

  auto* balance = app.add_subcommand("balance", "an account's balance (default: your team)");
  balance->add_option("account", account, "team:/provider:/escrow:/treasury, or a bare key hex");
  AddCommonFlags(balance, flags, "your key file");
  balance->callback([] {
    if (!Offline(flags)) return BalanceOverNet(flags, NormalizeAccount(account));
    RunBalance(ResolveLedgerFlags(flags), account);
  });

  auto* ledger = app.add_subcommand("ledger", "verify, inspect, prove and mint ledger entries");
  ledger->require_subcommand(1);

  auto* verify = ledger->add_subcommand("verify", "check a ledger directory offline");
  verify->add_option("dir", dir, "ledger directory")->required();
  verify->add_flag("--json", flags.json, "machine-readable output");
  verify->callback([] { RunVerify(dir, flags.json); });

  auto* history = ledger->add_subcommand(
      "history", "entries, oldest first (from the scheduler: your own accounts and jobs)");
  history->add_option("--account", account,
                      "only entries touching this account (from the scheduler: default your "
                      "team; '*' every entry, operator only)");
  history->add_option("--limit", limit, "at most this many of the newest entries");
  AddCommonFlags(history, flags, "your key file");
  history->callback([] {
    if (!Offline(flags)) {
      return HistoryOverNet(flags, account == "*" ? account : NormalizeAccount(account), limit);
    }
    RunHistory(ResolveLedgerFlags(flags), account == "*" ? "" : account, limit);
  });

  auto* prove = ledger->add_subcommand("prove", "inclusion proof checked against a signed head");
  prove->add_option("entry", entry, "entry id or index")->required();
  prove->add_option("--ledger-id", ledger_id,
                    "the ledger (scheduler) public key to trust (default: --scheduler-id; "
                    "offline: the key in the log header)");
  AddCommonFlags(prove, flags, "your key file");
  prove->callback([] {
    if (!Offline(flags)) return ProveOverNet(flags, entry, ledger_id);
    RunProve(ResolveLedgerFlags(flags), entry, ledger_id);
  });

  auto* head = ledger->add_subcommand(
      "head", "the scheduler's latest signed tree head, checked against the ledger key");
  head->add_option("--ledger-id", ledger_id, "the ledger key to trust (default: --scheduler-id)");
  head->add_option("--since", since,
                   "SIZE:ROOT of a head seen before: also prove the ledger only grew since");
  AddCommonFlags(head, flags, "your key file");
  head->callback([] {
    if (!flags.dir.empty()) {
      Fail(kExitBadInput,
           "`ledger head` asks the scheduler; offline, `plume ledger verify DIR` checks every "
           "head in the log");
    }
    HeadOverNet(flags, ledger_id, since);
  });

  auto* mint = ledger->add_subcommand("mint", "operator only: credit an account");
  mint->add_option("--to", to, "account (team:<key>, provider:<key>, or a bare key = team)")
      ->required();
  mint->add_option("--amount", amount, "micro-PLUME (1 PLUME = 1000000)")->required();
  mint->add_option("--id", id, "entry id (a retry with the same id mints once)");
  mint->add_option("--wait", wait_s,
                   "with --ledger-dir: seconds to wait for the scheduler to apply it (0: no)");
  AddCommonFlags(mint, flags, "the operator's key file, which signs the mint");
  mint->callback([] {
    LedgerFlags keyed = flags;
    keyed.key = KeyPathOrDefault(flags.key);
    Entry mint = CheckedMint(to, amount, id);
    const Identity op = LoadKeyOrFail(keyed.key);
    if (Offline(flags)) {
      const LedgerFlags local = ResolveLedgerFlags(flags);
      mint.signatures.push_back(SignEntry(mint, LocalLedgerId(local.dir), op));
      return RunMintViaInbox(local, mint, wait_s);
    }
    MintOverNet(keyed, std::move(mint), op);
  });

  RegisterAuditCommand(app);
  RegisterLineageCommand(app);
}

}  // namespace plume::cli
