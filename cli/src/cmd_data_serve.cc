// `plume data serve DATASET... [--listen tcp://HOST:PORT]`: the data owner's key service
// (docs/data-owners.md "Key release"). It listens on its own CURVE socket whose server key is
// the owner's (the transport the scheduler uses, protocol/transport.h), so an agent knows it
// talks to the owner, and the ZAP handshake proves the agent's key: the peer a key is sealed to
// is that proven key, never anything in the request.
//
// For each request: data/key_release.h decides (size, per-peer rate, dataset served, the
// scheduler's grant for this ledger, expiry, agent, dataset, task). A first release is written
// ahead to the release log (its record, so a restart resubmits the same entry), then recorded
// in the ledger as a data_access entry signed by the owner and submitted through the scheduler,
// and only once the ledger applied it is the key sent, sealed to the agent, and the release
// logged. A grant released before is released again to the same agent while it is valid (a
// lost reply must not strand a task), with no second ledger record: the ledger keeps one per
// grant. Requests are handled one at a time; SIGTERM/SIGINT end the loop cleanly.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>

#include "cmd_net.h"
#include "commands.h"
#include "data_net.h"
#include "ledger_net.h"
#include "plume/data/crypt.h"
#include "plume/data/key_release.h"
#include "plume/ledger/data_entries.h"
#include "plume/protocol/transport.h"

namespace plume::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::atomic<bool> g_stop{false};
void OnStop(int) { g_stop.store(true); }

struct ServeFlags {
  LedgerFlags ledger;
  std::vector<std::string> datasets;
  std::string listen;
  std::string keys_dir;
  std::string log;
};

uint64_t UnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// The release log: one JSON object a line, appended and fdatasync'd before the reply leaves.
class ReleaseLog {
 public:
  explicit ReleaseLog(fs::path path) : path_(std::move(path)) {}
  // Records written ahead (intent) and grants released, as a restart finds them.
  void Load(std::map<std::string, data::AccessRecord>& intents, std::set<std::string>& released) {
    std::ifstream in(path_);
    std::string line;
    while (std::getline(in, line)) {
      auto j = json::parse(line, nullptr, false);
      if (!j.is_object()) continue;  // a line cut by a crash: its release never left
      const std::string key = j.value("grant_key", "");
      if (j.value("event", "") == "intent") {
        auto bytes = FromHex(j.value("record", ""));
        if (!bytes) continue;
        auto r = data::DecodeAccessRecord(std::span(reinterpret_cast<const uint8_t*>(bytes->data()),
                                                    bytes->size()));
        if (r) intents[key] = *r;
      } else if (j.value("event", "") == "release") {
        released.insert(key);
      }
    }
  }
  Status Append(const json& line) {
    const int fd = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0) return plume::Fail("cannot open the release log " + path_.string());
    const std::string text = line.dump() + "\n";
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fdatasync(fd) == 0;
    ::close(fd);
    if (!ok) return plume::Fail("cannot write the release log " + path_.string());
    return {};
  }

 private:
  fs::path path_;
};

class KeyService {
 public:
  KeyService(NetClient& client, data::KeyServicePolicy policy,
             std::map<std::string, data::DataKey> keys, ReleaseLog& log)
      : client_(client), policy_(std::move(policy)), keys_(std::move(keys)), log_(log) {
    log_.Load(intents_, released_);
    Prune(UnixMs());
  }
  ~KeyService() {
    for (auto& [id, key] : keys_) data::Wipe(key);
  }

  void Handle(TransportServer& server, const Incoming& in) {
    const uint64_t rid = in.message.request_id();
    if (in.message.kind() != MessageKind::DATA_REQUEST) {
      (void)server.SendError(in.peer, rid, wire::ErrorCode::UNEXPECTED,
                             "a key service answers dataRequest only");
      return;
    }
    auto q = in.message.body().getDataRequest();
    const auto text = [](capnp::Text::Reader t) { return std::string_view(t.cStr(), t.size()); };
    const auto grant = q.getGrant();
    const data::KeyRequest request{text(q.getDataset()), text(q.getJob()), text(q.getTask()),
                                   std::span(grant.begin(), grant.size()),
                                   in.message.size_bytes(), in.principal, UnixMs()};
    const data::Decision d = data::DecideRelease(policy_, request, rate_, released_);
    if (!d.released()) {
      Refuse(server, in, d);
      return;
    }
    auto recorded = Record(d, request.now_unix_ms);
    if (!recorded) {
      std::cerr << "plume data serve: " << ToHex(in.principal).substr(0, 16) << " task "
                << d.grant.task << ": not released: " << recorded.error().message << "\n";
      (void)server.SendError(in.peer, rid, wire::ErrorCode::RETRY_LATER,
                             "the release could not be recorded in the ledger yet: " +
                                 recorded.error().message);
      return;
    }
    auto sealed = data::SealDataKey(keys_.at(d.grant.dataset), d.grant.agent);
    if (!sealed) {
      (void)server.SendError(in.peer, rid, wire::ErrorCode::INTERNAL, sealed.error().message);
      return;
    }
    const json line{{"event", "release"},
                    {"repeat", d.verdict == data::ReleaseVerdict::kRepeat},
                    {"grant_key", d.grant_key},
                    {"dataset", d.grant.dataset},
                    {"job", d.grant.job},
                    {"task", d.grant.task},
                    {"attempt", d.grant.attempt},
                    {"agent", ToHex(d.grant.agent)},
                    {"entry", recorded->first},
                    {"index", recorded->second},
                    {"unix_ms", UnixMs()}};
    if (auto st = log_.Append(line); !st) {
      (void)server.SendError(in.peer, rid, wire::ErrorCode::RETRY_LATER, st.error().message);
      return;
    }
    released_.insert(d.grant_key);
    if (++since_prune_ >= kPruneEvery) Prune(UnixMs());
    MessageBuilder reply(rid, server.identity().public_key());
    auto r = reply.body().initDataReply();
    r.setSealedKey(AsData(*sealed));
    r.setAccessEntry(recorded->first);
    r.setAccessIndex(recorded->second);
    (void)server.Send(in.peer, reply);
    std::cerr << "plume data serve: released " << d.grant.dataset << " to "
              << ToHex(d.grant.agent).substr(0, 16) << " for job " << d.grant.job << " task "
              << d.grant.task << " (" << recorded->first << " #" << recorded->second
              << (d.verdict == data::ReleaseVerdict::kRepeat ? ", again" : "") << ")\n";
  }

 private:
  void Refuse(TransportServer& server, const Incoming& in, const data::Decision& d) {
    wire::ErrorCode code = wire::ErrorCode::UNAUTHORIZED;
    switch (d.verdict) {
      case data::ReleaseVerdict::kTooLarge: code = wire::ErrorCode::TOO_LARGE; break;
      case data::ReleaseVerdict::kNotServed: code = wire::ErrorCode::NOT_FOUND; break;
      case data::ReleaseVerdict::kBadGrant: code = wire::ErrorCode::BAD_MESSAGE; break;
      case data::ReleaseVerdict::kRateLimited: code = wire::ErrorCode::RETRY_LATER; break;
      default: break;
    }
    std::cerr << "plume data serve: refused " << ToHex(in.principal).substr(0, 16) << ": "
              << d.Reason() << "\n";
    (void)server.SendError(in.peer, in.message.request_id(), code, d.Reason());
  }

  // The ledger's record of this grant's release: (entry id, index). A grant seen before reuses
  // the record written ahead, so a resubmission is the same entry and the ledger answers it as
  // a repeat rather than a conflict.
  Result<std::pair<std::string, uint64_t>> Record(const data::Decision& d, uint64_t now_ms) {
    auto it = intents_.find(d.grant_key);
    if (it == intents_.end()) {
      data::AccessRecord rec{me(), d.grant, now_ms};
      const std::vector<uint8_t> bytes = data::EncodeAccessRecord(rec);
      if (auto st = log_.Append(json{{"event", "intent"},
                                     {"grant_key", d.grant_key},
                                     {"record", ToHex(bytes)}});
          !st) {
        return tl::unexpected(st.error());
      }
      it = intents_.emplace(d.grant_key, rec).first;
    }
    ledger::Entry e = ledger::MakeDataAccess(it->second);
    e.signatures.push_back(ledger::SignEntry(e, policy_.ledger_id, client_.identity()));
    auto req = client_.NewRequest();
    const std::vector<uint8_t> bytes = ledger::Encode(e);
    req.body().initLedgerSubmit().setEntry(AsData(bytes));
    auto reply = client_.Call(req);
    if (!reply) return plume::Fail(reply.error().message);
    if (reply->kind() != MessageKind::LEDGER_REPLY ||
        reply->body().getLedgerReply().which() != wire::LedgerReply::APPLIED) {
      return plume::Fail("the scheduler did not say the access record was applied");
    }
    auto a = reply->body().getLedgerReply().getApplied();
    return std::make_pair(std::string(a.getEntryId().cStr()), a.getIndex());
  }

  PublicKey me() const { return client_.identity().public_key(); }

  // A grant past its expiry is refused before the repeat check, so what is remembered of it can
  // go: the memory is bounded by the grants still alive, not by every grant ever served.
  static constexpr size_t kPruneEvery = 256;
  void Prune(uint64_t now_ms) {
    since_prune_ = 0;
    for (auto it = intents_.begin(); it != intents_.end();) {
      if (it->second.grant.expires_unix_ms <= now_ms) {
        released_.erase(it->first);
        it = intents_.erase(it);
      } else {
        ++it;
      }
    }
    std::erase_if(released_, [&](const std::string& key) { return !intents_.count(key); });
  }

  NetClient& client_;
  data::KeyServicePolicy policy_;
  std::map<std::string, data::DataKey> keys_;
  ReleaseLog& log_;
  data::PeerRate rate_{data::kKeyRequestsPerPeerPerMinute, data::kKeyServicePeersMax};
  std::set<std::string> released_;
  std::map<std::string, data::AccessRecord> intents_;
  size_t since_prune_ = 0;
};

fs::path KeysDirOf(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("PLUME_DATA_KEYS")) return env;
  return fs::path(DefaultKeyPath()).parent_path() / "data-keys";
}

void RunServe(const ServeFlags& f) {
  Connection c = ConnectLedger(f.ledger);
  const Identity& me = c.client->identity();
  data::KeyServicePolicy policy;
  policy.ledger_id = AskLedgerId(*c.client);
  policy.scheduler = c.scheduler_id;  // the scheduler signs grants with its own (ledger) key
  const fs::path keys_dir = KeysDirOf(f.keys_dir);
  std::map<std::string, data::DataKey> keys;
  std::string listen = f.listen;
  for (const std::string& id : f.datasets) {
    const PublishedDataset p = PublishedOrFail(*c.client, c.scheduler_id, id);
    if (p.terms.owner != me.public_key()) {
      Fail(kExitBadInput, "dataset " + id + " is not yours (its owner is " +
                              ToHex(p.terms.owner).substr(0, 16) + "...): serve it with its "
                              "owner's --key");
    }
    if (!p.terms.encrypted) Fail(kExitBadInput, "dataset " + id + " is public (not encrypted)");
    auto key = data::LoadDataKey(keys_dir / (id + ".key"));
    if (!key) Fail(kExitFailure, "dataset " + id + ": " + key.error().message);
    keys[id] = *key;
    data::Wipe(*key);
    policy.datasets.insert(id);
    if (listen.empty()) listen = p.terms.key_service;
  }
  const fs::path log_path = f.log.empty() ? keys_dir / "releases.jsonl" : fs::path(f.log);
  ReleaseLog log(log_path);
  KeyService service(*c.client, policy, std::move(keys), log);
  ServerOptions options;
  options.endpoint = listen;
  auto server = TransportServer::Bind(me, options);
  if (!server) Fail(kExitFailure, "cannot listen on " + listen + ": " + server.error().message);
  std::signal(SIGTERM, OnStop);
  std::signal(SIGINT, OnStop);
  std::cerr << "plume data serve: " << policy.datasets.size() << " dataset(s) on "
            << (*server)->endpoint() << " as " << me.Id() << "; releases logged to " << log_path
            << std::endl;
  while (!g_stop.load()) {
    auto in = (*server)->Recv(std::chrono::milliseconds(200));
    if (!in) {
      if (g_stop.load()) break;
      Fail(kExitFailure, "the key service's socket failed: " + in.error().message);
    }
    if (*in) service.Handle(**server, **in);
  }
  std::cerr << "plume data serve: stopped" << std::endl;
}

}  // namespace

void RegisterDataServe(CLI::App* data) {
  static ServeFlags f;
  auto* serve = data->add_subcommand(
      "serve", "your key service: release data keys to agents the scheduler assigned (grants)");
  serve->add_option("dataset", f.datasets, "your encrypted datasets (ids) to serve")->required();
  serve->add_option("--listen", f.listen,
                    "tcp://HOST:PORT to bind (default the first dataset's key service)");
  serve->add_option("--keys-dir", f.keys_dir,
                    "where the data keys are (default $PLUME_DATA_KEYS, then "
                    "~/.config/plume/data-keys)");
  serve->add_option("--log", f.log, "the release log, JSONL (default KEYS_DIR/releases.jsonl)");
  serve->add_option("--scheduler", f.ledger.scheduler,
                    "scheduler endpoint tcp://HOST:PORT (default $PLUME_SCHEDULER)");
  serve->add_option("--scheduler-id", f.ledger.scheduler_id,
                    "the scheduler's public key, hex (default $PLUME_SCHEDULER_ID)");
  serve->add_option("--key", f.ledger.key, "the data owner's key file (default $PLUME_KEY)");
  serve->callback([] { RunServe(f); });
}

}  // namespace plume::cli
