// `plume data ...`: what a data owner runs (docs/data-owners.md), through a scheduler.
//
//   plume data publish FILE [--encrypt] [--royalty N] [--teams K,..] [--kinds train,evaluate]
//                                 uploads FILE (encrypted first with a fresh data key, which is
//                                 kept in --keys-dir and never sent), then signs and submits
//                                 the dataset's terms (a dataset_publish ledger entry)
//   plume data revoke DATASET     no new jobs on it (jobs already running finish)
//   plume data show|terms DATASET the published terms, proven against the signed ledger head
//   plume data list               your datasets; access DATASET: every recorded key release;
//   plume data earnings           royalties paid to you, per dataset (from your history)
//   plume data serve DATASET...   your key service (cmd_data_serve.cc)
//
// Bad input is refused here (exit 2) before anything is sent; a ledger refusal names its code.
#include <algorithm>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cmd_net.h"
#include "data_net.h"
#include "commands.h"
#include "ledger_cli.h"
#include "ledger_net.h"
#include "plume/data/crypt.h"
#include "plume/data/terms.h"
#include "plume/ledger/data_entries.h"
#include "plume/ledger/merkle.h"
#include "plume/protocol/limits.h"
#include "plume/scheduler/ledger_wire.h"
#include "plume_amount.h"

namespace plume::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct DataFlags {
  LedgerFlags ledger;
  std::string file;
  std::string dataset;
  std::string name;
  bool encrypt = false;
  uint64_t royalty = 0;
  std::vector<std::string> teams;
  std::vector<std::string> kinds{"train"};
  std::string key_service;
  std::string keys_dir;
};

fs::path KeysDir(const DataFlags& f) {
  if (!f.keys_dir.empty()) return f.keys_dir;
  if (const char* env = std::getenv("PLUME_DATA_KEYS")) return env;
  return fs::path(DefaultKeyPath()).parent_path() / "data-keys";
}

data::Terms TermsOrFail(const DataFlags& f, const PublicKey& owner, const std::vector<uint8_t>& blob,
                        uint64_t plain_bytes) {
  data::Terms t;
  t.owner = owner;
  t.name = f.name.empty() ? fs::path(f.file).filename().string() : f.name;
  t.blob_hash = Blake2b256(blob);
  t.bytes = plain_bytes;
  t.tokens = plain_bytes;  // the byte-level tokenizer: one token per byte
  t.encrypted = f.encrypt;
  t.key_service = f.key_service;
  if (f.encrypt && t.key_service.empty()) {
    Fail(kExitBadInput, "--encrypt needs --key-service tcp://HOST:PORT (where `plume data serve` "
                        "will release the key to assigned agents)");
  }
  t.kinds = 0;
  for (const std::string& k : f.kinds) {
    if (k == "train") t.kinds |= static_cast<uint8_t>(data::JobKind::kTrain);
    else if (k == "evaluate") t.kinds |= static_cast<uint8_t>(data::JobKind::kEvaluate);
    else Fail(kExitBadInput, "--kinds takes train and/or evaluate, not '" + k + "'");
  }
  t.any_team = f.teams.empty();
  for (const std::string& k : f.teams) t.teams.push_back(ParseKeyOrFail(k, "--teams"));
  std::sort(t.teams.begin(), t.teams.end());
  t.teams.erase(std::unique(t.teams.begin(), t.teams.end()), t.teams.end());
  t.royalty_micro_plume_per_mtoken = f.royalty;
  if (std::string problem = data::TermsProblem(t); !problem.empty()) Fail(kExitBadInput, problem);
  return t;
}

json TermsJson(const data::Terms& t) {
  std::vector<std::string> teams;
  for (const PublicKey& k : t.teams) teams.push_back(ToHex(k));
  std::vector<std::string> kinds;
  for (data::JobKind k : {data::JobKind::kTrain, data::JobKind::kEvaluate}) {
    if (t.kinds & static_cast<uint8_t>(k)) kinds.emplace_back(data::JobKindName(k));
  }
  return json{{"dataset", data::DatasetId(t)},
              {"owner", ToHex(t.owner)},
              {"name", t.name},
              {"blob", ToHex(t.blob_hash)},
              {"bytes", t.bytes},
              {"tokens", t.tokens},
              {"encrypted", t.encrypted},
              {"key_service", t.key_service},
              {"kinds", kinds},
              {"any_team", t.any_team},
              {"teams", teams},
              {"royalty_micro_plume_per_mtoken", t.royalty_micro_plume_per_mtoken}};
}

void RunPublish(const DataFlags& f) {
  std::ifstream in(f.file, std::ios::binary);
  if (!in) Fail(kExitBadInput, "cannot read " + f.file);
  std::vector<uint8_t> plain((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (plain.empty()) Fail(kExitBadInput, f.file + " is empty");
  Connection c = ConnectLedger(f.ledger);
  const Identity& me = c.client->identity();
  data::DataKey key{};
  std::vector<uint8_t> blob;
  if (f.encrypt) {
    key = data::NewDataKey();
    blob = data::Encrypt(plain, key);
  } else {
    blob = plain;
  }
  const uint64_t plain_bytes = plain.size();
  data::Wipe(plain);
  const data::Terms terms = TermsOrFail(f, me.public_key(), blob, plain_bytes);
  const std::string id = data::DatasetId(terms);
  if (f.encrypt) {
    // Kept before anything leaves this machine: a published dataset whose key was lost could
    // never be read by anyone again.
    const fs::path dir = KeysDir(f);
    std::error_code ec;
    fs::create_directories(dir, ec);
    fs::permissions(dir, fs::perms::owner_all, ec);
    if (auto st = data::SaveDataKey(dir / (id + ".key"), key); !st) {
      Fail(kExitFailure, st.error().message);
    }
    data::Wipe(key);
  }
  auto uploaded = c.client->Upload(blob);
  if (!uploaded) FailWith(uploaded.error());
  ledger::Entry e = ledger::MakeDatasetPublish(terms);
  e.signatures.push_back(ledger::SignEntry(e, AskLedgerId(*c.client), me));
  const Applied a = SubmitSigned(*c.client, e);
  if (f.ledger.json) {
    json j = TermsJson(terms);
    j["entry"] = a.id;
    j["index"] = a.index;
    j["repeated"] = a.repeated;
    std::cout << j.dump() << "\n";
    return;
  }
  std::cout << (a.repeated ? "already published " : "published ") << id << " (" << terms.name
            << ", " << (terms.encrypted ? "encrypted" : "clear") << ", " << terms.tokens
            << " tokens) as entry #" << a.index << "\n";
  if (terms.encrypted) std::cout << "data key kept in " << (KeysDir(f) / (id + ".key")) << "\n";
}

std::string DatasetOrFail(const std::string& text) {
  if (!data::IsDatasetId(text)) Fail(kExitBadInput, "a dataset id is 32 lowercase hex digits");
  return text;
}

void RunRevoke(const DataFlags& f) {
  const std::string id = DatasetOrFail(f.dataset);
  Connection c = ConnectLedger(f.ledger);
  const Identity& me = c.client->identity();
  ledger::Entry e = ledger::MakeDatasetRevoke({id, me.public_key()});
  e.signatures.push_back(ledger::SignEntry(e, AskLedgerId(*c.client), me));
  const Applied a = SubmitSigned(*c.client, e);
  if (f.ledger.json) {
    std::cout << json{{"dataset", id}, {"entry", a.id}, {"index", a.index},
                      {"repeated", a.repeated}}.dump()
              << "\n";
    return;
  }
  std::cout << (a.repeated ? "already revoked " : "revoked ") << id << " as entry #" << a.index
            << ": new jobs are refused; jobs already running finish\n";
}

// The entry with this id, its inclusion proven against a head signed by the scheduler's key;
// nullopt when the ledger has none.
std::optional<ledger::Entry> ProvenEntry(NetClient& client, const PublicKey& trusted,
                                         const std::string& entry_id) {
  auto req = client.NewRequest();
  req.body().initLedgerQuery().initInclusion().setEntryId(entry_id);
  auto reply = client.Call(req);
  // NetClient turns an Error reply into a CliError; notFound reads as bad input (exit 2) with
  // the scheduler's "no entry '<id>'" (ledger_bridge_wire.cc AnswerInclusion).
  if (!reply && reply.error().exit_code == kExitBadInput &&
      reply.error().message.find("no entry '") != std::string::npos) {
    return std::nullopt;
  }
  if (!reply) FailWith(reply.error());
  if (reply->kind() != MessageKind::LEDGER_REPLY ||
      reply->body().getLedgerReply().which() != wire::LedgerReply::INCLUSION) {
    Fail(kExitFailure, "the scheduler did not prove " + entry_id);
  }
  auto r = reply->body().getLedgerReply();
  ledger::InclusionBundle bundle;
  auto logged = scheduler::ReadEntry(r.getInclusion().getEntry());
  auto path = scheduler::ReadHashes(r.getInclusion().getPath());
  auto head = scheduler::ReadHead(r.getHead());
  if (!logged || !path || !head) Fail(kExitFailure, "the scheduler sent a malformed proof");
  bundle.logged = *logged;
  bundle.path = *path;
  bundle.head = *head;
  if (bundle.logged.entry.id != entry_id || !ledger::CheckInclusion(bundle, trusted)) {
    Fail(kExitFailure, "the proof of " + entry_id + " does not check against the ledger head");
  }
  return bundle.logged.entry;
}

}  // namespace

PublishedDataset PublishedOrFail(NetClient& client, const PublicKey& trusted,
                                 const std::string& dataset) {
  const std::string id = DatasetOrFail(dataset);
  auto published = ProvenEntry(client, trusted, "dataset:" + id);
  if (!published) Fail(kExitFailure, "dataset " + id + " is not published on this ledger");
  auto terms = data::DecodeTerms(published->body);
  if (!terms) Fail(kExitFailure, "the published terms do not decode: " + terms.error().message);
  const bool revoked = ProvenEntry(client, trusted, "revoke:" + id).has_value();
  return PublishedDataset{std::move(*terms), revoked};
}

namespace {

void RunShow(const DataFlags& f) {
  Connection c = ConnectLedger(f.ledger);
  const auto [terms, revoked] = PublishedOrFail(*c.client, c.scheduler_id, f.dataset);
  json j = TermsJson(terms);
  j["revoked"] = revoked;
  if (f.ledger.json) {
    std::cout << j.dump() << "\n";
    return;
  }
  std::cout << j.dump(2) << "\n";
}

std::vector<ledger::LoggedEntry> MyHistory(Connection& c) {
  auto req = c.client->NewRequest();
  auto h = req.body().initLedgerQuery().initHistory();
  h.setAccount("");
  h.setLimit(limits::kLedgerHistoryRowsMax);
  Message reply = LedgerCall(*c.client, req, wire::LedgerReply::HISTORY);
  auto got = reply.body().getLedgerReply().getHistory();
  std::vector<ledger::LoggedEntry> out;
  for (auto e : got.getEntries()) {
    auto logged = scheduler::ReadEntry(e);
    if (!logged) Fail(kExitFailure, "the scheduler sent an unreadable entry");
    out.push_back(std::move(*logged));
  }
  if (got.getTruncated()) {
    std::cerr << "plume: only your newest " << out.size() << " ledger entries were read\n";
  }
  return out;
}

void RunList(const DataFlags& f) {
  Connection c = ConnectLedger(f.ledger);
  json list = json::array();
  std::map<std::string, bool> revoked;
  const auto history = MyHistory(c);
  for (const auto& l : history) {
    if (l.entry.type == ledger::EntryType::kDatasetRevoke) {
      if (auto r = data::DecodeRevocation(l.entry.body)) revoked[r->dataset] = true;
    }
  }
  for (const auto& l : history) {
    if (l.entry.type != ledger::EntryType::kDatasetPublish) continue;
    auto t = data::DecodeTerms(l.entry.body);
    if (!t || t->owner != c.client->identity().public_key()) continue;
    json j = TermsJson(*t);
    j["revoked"] = revoked[data::DatasetId(*t)];
    j["index"] = l.index;
    list.push_back(j);
  }
  if (f.ledger.json) {
    std::cout << list.dump() << "\n";
    return;
  }
  for (const auto& j : list) {
    std::cout << j["dataset"].get<std::string>() << "  " << j["name"].get<std::string>() << "  "
              << (j["encrypted"].get<bool>() ? "encrypted" : "clear") << "  "
              << j["royalty_micro_plume_per_mtoken"].get<uint64_t>() << " uPLUME/Mtoken"
              << (j["revoked"].get<bool>() ? "  REVOKED" : "") << "\n";
  }
}

void RunAccess(const DataFlags& f) {
  const std::string id = DatasetOrFail(f.dataset);
  Connection c = ConnectLedger(f.ledger);
  json list = json::array();
  for (const auto& l : MyHistory(c)) {
    if (l.entry.type != ledger::EntryType::kDataAccess) continue;
    auto r = data::DecodeAccessRecord(l.entry.body);
    if (!r || r->grant.dataset != id) continue;
    list.push_back(json{{"index", l.index},
                        {"job", r->grant.job},
                        {"task", r->grant.task},
                        {"attempt", r->grant.attempt},
                        {"agent", ToHex(r->grant.agent)},
                        {"released_unix_ms", r->released_unix_ms}});
  }
  if (f.ledger.json) {
    std::cout << list.dump() << "\n";
    return;
  }
  for (const auto& j : list) {
    std::cout << "#" << j["index"] << " job " << j["job"].get<std::string>() << " task "
              << j["task"].get<std::string>() << " agent " << j["agent"].get<std::string>()
              << " at " << j["released_unix_ms"] << "\n";
  }
}

void RunEarnings(const DataFlags& f) {
  Connection c = ConnectLedger(f.ledger);
  const std::string mine = ledger::RoyaltyAccount(c.client->identity().public_key());
  std::map<std::string, std::pair<int64_t, uint64_t>> per;  // dataset -> (micro-PLUME, tokens)
  int64_t total = 0;
  for (const auto& l : MyHistory(c)) {
    if (l.entry.type != ledger::EntryType::kSettle || l.entry.legs.empty()) continue;
    auto claims = data::DecodeClaims(l.entry.body);
    if (!claims || claims->size() != l.entry.legs.size()) continue;
    for (size_t i = 0; i < claims->size(); ++i) {
      if (l.entry.legs[i].account != mine) continue;
      auto& [amount, tokens] = per[(*claims)[i].dataset];
      amount += l.entry.legs[i].amount.value();
      tokens += (*claims)[i].tokens;
      total += l.entry.legs[i].amount.value();
    }
  }
  if (f.ledger.json) {
    json j{{"account", mine}, {"total_micro_plume", total}, {"datasets", json::object()}};
    for (const auto& [id, v] : per) {
      j["datasets"][id] = json{{"micro_plume", v.first}, {"tokens", v.second}};
    }
    std::cout << j.dump() << "\n";
    return;
  }
  for (const auto& [id, v] : per) {
    std::cout << id << "  " << PlumeText(v.first) << " PLUME for " << v.second << " tokens\n";
  }
  std::cout << "total " << PlumeText(total) << " PLUME to " << mine << "\n";
}

void AddFlags(CLI::App* cmd, DataFlags& f) {
  cmd->add_option("--scheduler", f.ledger.scheduler,
                  "scheduler endpoint tcp://HOST:PORT (default $PLUME_SCHEDULER)");
  cmd->add_option("--scheduler-id", f.ledger.scheduler_id,
                  "the scheduler's public key, hex (default $PLUME_SCHEDULER_ID)");
  cmd->add_option("--key", f.ledger.key, "your key file: the data owner's (default $PLUME_KEY)");
  cmd->add_flag("--json", f.ledger.json, "machine-readable output");
}

}  // namespace

void RegisterDataCommands(CLI::App& app) {
  static DataFlags f;
  auto* data = app.add_subcommand("data", "publish datasets, set their terms, see their use");
  data->require_subcommand(1);
  auto* publish = data->add_subcommand("publish", "upload a dataset and sign its terms");
  publish->add_option("file", f.file, "the dataset (bytes; one token per byte)")->required();
  publish->add_flag("--encrypt", f.encrypt,
                    "encrypt before upload; only agents assigned a task get the key");
  publish->add_option("--royalty", f.royalty, "micro-PLUME per million tokens trained (0)");
  publish->add_option("--teams", f.teams, "client keys (hex) that may use it; default any team")
      ->delimiter(',');
  publish->add_option("--kinds", f.kinds, "train and/or evaluate (default train)")
      ->delimiter(',');
  publish->add_option("--name", f.name, "a name for people (default the file name)");
  publish->add_option("--key-service", f.key_service,
                      "with --encrypt: where `plume data serve` listens, tcp://HOST:PORT");
  publish->add_option("--keys-dir", f.keys_dir,
                      "where data keys are kept (default $PLUME_DATA_KEYS, then "
                      "~/.config/plume/data-keys)");
  AddFlags(publish, f);
  publish->callback([] { RunPublish(f); });
  const auto with_dataset = [&](const char* name, const char* help, void (*run)(const DataFlags&)) {
    auto* cmd = data->add_subcommand(name, help);
    cmd->add_option("dataset", f.dataset, "dataset id (32 hex digits)")->required();
    AddFlags(cmd, f);
    cmd->callback([run] { run(f); });
  };
  with_dataset("revoke", "refuse new jobs on your dataset (running jobs finish)", RunRevoke);
  with_dataset("show", "a dataset's terms and whether it was revoked, proven", RunShow);
  with_dataset("terms", "the same as show", RunShow);
  with_dataset("access", "every key release of your dataset recorded in the ledger", RunAccess);
  auto* list = data->add_subcommand("list", "your published datasets");
  AddFlags(list, f);
  list->callback([] { RunList(f); });
  auto* earnings = data->add_subcommand("earnings", "royalties paid to you, per dataset");
  AddFlags(earnings, f);
  earnings->callback([] { RunEarnings(f); });
  RegisterDataServe(data);
}

}  // namespace plume::cli
