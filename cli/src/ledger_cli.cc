// Shared helpers of the ledger commands (see ledger_cli.h).
#include "ledger_cli.h"

#include <cstdlib>
#include <iostream>

#include "commands.h"
#include "plume/data/royalty.h"
#include "plume/ledger/data_entries.h"
#include "plume/ledger/lineage.h"
#include "plume/ledger/verdict.h"
#include "plume/ledger/query.h"
#include "plume/protocol/hash.h"

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
  flags.key = KeyPathOrDefault(flags.key);
  if (flags.dir.empty()) {
    Fail(kExitBadInput,
         "no ledger directory: pass --ledger-dir <scheduler data dir>/ledger or set "
         "PLUME_LEDGER_DIR");
  }
  return flags;
}

std::string KeyPathOrDefault(const std::string& key) {
  return key.empty() ? EnvOr("PLUME_KEY", EnvOr("HOME", ".") + "/.config/plume/key") : key;
}

LedgerSource ChooseLedgerSource(const LedgerFlags& flags) {
  if (!flags.dir.empty()) return LedgerSource::kDirectory;
  if (!flags.scheduler.empty() || !EnvOr("PLUME_SCHEDULER", "").empty()) {
    return LedgerSource::kScheduler;
  }
  if (!EnvOr("PLUME_LEDGER_DIR", "").empty()) return LedgerSource::kDirectory;
  Fail(kExitBadInput,
       "no scheduler and no ledger directory: pass --scheduler tcp://HOST:PORT and "
       "--scheduler-id HEX (or set PLUME_SCHEDULER and PLUME_SCHEDULER_ID), or, on the "
       "scheduler's host, --ledger-dir <scheduler data dir>/ledger");
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

using nlohmann::json;

json EntryJson(const ledger::LoggedEntry& l) {
  const ledger::Entry& e = l.entry;
  json j{{"index", l.index},
         {"id", e.id},
         {"type", std::string(ledger::EntryTypeName(e.type))},
         {"from", e.from},
         {"to", e.to},
         {"amount_micro_plume", e.amount.value()},
         {"job", e.job},
         {"leaf", ToHex(l.leaf_hash)}};
  if (e.receipt) {
    const ledger::TaskReceipt& r = *e.receipt;
    j["receipt"] = {{"task", r.task_id},
                    {"attempt", r.attempt},
                    {"flops", r.flops},
                    {"agent", ToHex(r.agent)},
                    {"output", ToHex(r.output_hash)},
                    {"price_micro_plume_per_pflop", r.price_micro_plume_per_pflop},
                    {"fee_bps", r.fee_bps},
                    {"start_unix_ms", r.start_unix_ms},
                    {"end_unix_ms", r.end_unix_ms}};
  }
  // Unstake: the tranche's release time; withdraw: the time it was made at.
  if (e.type == ledger::EntryType::kUnstake || e.type == ledger::EntryType::kWithdraw) {
    j["at_ms"] = e.at_ms;
  }
  if (!e.legs.empty()) {  // a slash's, or a settle's royalties
    json legs = json::array();
    for (const ledger::Leg& leg : e.legs) {
      legs.push_back({{"kind", std::string(ledger::LegKindName(leg.kind))},
                      {"account", leg.account},
                      {"amount_micro_plume", leg.amount.value()}});
    }
    j["legs"] = legs;
  }
  if (e.type == ledger::EntryType::kSlash) {
    j["memo"] = e.memo;  // valid UTF-8: the ledger refuses any other memo
  }
  if (e.type == ledger::EntryType::kSettle && !e.body.empty()) {
    if (auto claims = data::DecodeClaims(e.body)) {
      json list = json::array();
      for (const data::RoyaltyClaim& c : *claims) {
        list.push_back({{"dataset", c.dataset}, {"tokens", c.tokens}});
      }
      j["royalty_claims"] = list;
    }
  }
  if (e.type == ledger::EntryType::kCheckpoint) {  // a training round's output (lineage.h)
    if (auto f = ledger::DecodeCheckpoint(e.body)) {
      json deltas = json::array();
      for (const Hash256& d : f->deltas) deltas.push_back(ToHex(d));
      j["checkpoint"] = {{"round", f->round},           {"final", f->final},
                         {"params_in", ToHex(f->params_in)}, {"params_out", ToHex(f->params_out)},
                         {"deltas", deltas},            {"weights", f->weights},
                         {"outer_lr", f->outer_lr},     {"outer_momentum", f->outer_momentum}};
    }
  }
  if (e.type == ledger::EntryType::kVerdict) {  // an audit's conclusion (verdict.h)
    if (auto f = ledger::DecodeVerdict(e.body)) {
      json runs = json::array();
      for (const ledger::VerdictRun& r : f->runs) {
        runs.push_back({{"task", r.task}, {"output", ToHex(r.output)}});
      }
      j["verdict"] = {{"task", f->task},
                      {"policy", f->policy},
                      {"outcome", std::string(ledger::VerdictOutcomeName(f->outcome))},
                      {"runs", runs},
                      {"dispute_link", f->dispute_link},
                      {"recomputed_ppm", f->recomputed_ppm}};
    }
  }
  if (std::string more = ledger::DescribeDataEntry(e);
      !more.empty() && e.type != ledger::EntryType::kSettle) {
    j["data"] = more.substr(1);
  }
  return j;
}

void PrintBalance(const std::string& account, std::optional<ledger::MicroPlume> balance,
                  const std::optional<ledger::HoldInfo>& hold, bool as_json) {
  if (as_json) {
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
  std::cout << account << " " << ledger::FormatPlume(*balance) << " (" << balance->value()
            << " micro-PLUME)\n";
  if (hold) {
    std::cout << "  held " << hold->held.value() << ", paid " << hold->paid.value() << ", fees "
              << hold->fees.value() << ", released " << hold->released.value()
              << (hold->closed ? " (closed)" : " (open)") << " micro-PLUME\n";
  }
}

void PrintHistory(const std::vector<ledger::LoggedEntry>& entries, bool as_json) {
  if (as_json) {
    json arr = json::array();
    for (const ledger::LoggedEntry& l : entries) arr.push_back(EntryJson(l));
    std::cout << arr.dump() << "\n";
    return;
  }
  if (entries.empty()) std::cout << "no entries\n";
  for (const ledger::LoggedEntry& l : entries) std::cout << ledger::DescribeEntry(l) << "\n";
}

void PrintProof(const ledger::InclusionBundle& bundle, const PublicKey& trusted, bool ok,
                const std::string& key_note, bool as_json) {
  if (as_json) {
    json path = json::array();
    for (const Hash256& h : bundle.path) path.push_back(ToHex(h));
    std::cout << json{{"ok", ok},
                      {"entry", EntryJson(bundle.logged)},
                      {"path", path},
                      {"tree_size", bundle.head.tree_size},
                      {"root", ToHex(bundle.head.root)},
                      {"head_signature", ToHex(bundle.head.signature)},
                      {"ledger_key", ToHex(trusted)}}
                     .dump()
              << "\n";
    return;
  }
  std::cout << ledger::DescribeEntry(bundle.logged) << "\n"
            << "  leaf " << ToHex(bundle.logged.leaf_hash) << "\n"
            << "  path of " << bundle.path.size() << " hashes to root " << ToHex(bundle.head.root)
            << " of a tree of " << bundle.head.tree_size << " entries\n"
            << "  head signed by " << ToHex(trusted) << key_note << "\n"
            << (ok ? "PROVEN" : "NOT PROVEN") << ": entry #" << bundle.logged.index << "\n";
}

}  // namespace plume::cli
