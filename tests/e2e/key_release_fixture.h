// The key-release end-to-end tests' network (key_release_test.cc, key_release_hostile_test.cc):
// a real plume-scheduler with its ledger, an owner who published an encrypted dataset whose key
// service is the owner's real `plume data serve`, and helpers to ask that service directly.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <thread>

#include "marked_text.h"
#include "network.h"
#include "paid_network.h"
#include "plume/data/crypt.h"
#include "plume/data/grant.h"
#include "plume/ledger/data_entries.h"
#include "plume/ledger/entry.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"
#include "spec_util.h"

namespace plume::itest {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;



inline uint64_t UnixMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

class KeyReleaseE2E : public ::testing::Test {
 protected:
  // Replay audits on: each new provider's results are re-run by another agent.
  virtual bool Audits() const { return false; }
  void SetUp() override {
    owner_id_ = MakeKey(owner_key());
    std::string why;
    if (Audits()) net_.EnableAudits();
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    CommandResult mint = paid_.Mint("mint:team", 50'000'000'000, paid_.operator_key());
    ASSERT_EQ(mint.exit_code, 0) << mint.out << mint.err << net_.Logs();
    endpoint_ = "tcp://127.0.0.1:" + std::to_string(FreeLoopbackPort());
    const fs::path text = WriteMarkedText(net_.dir().path(), "secret.txt", 600);
    CommandResult r = net_.Cli({"data", "publish", text.string(), "--encrypt", "--key-service",
                                endpoint_, "--royalty", std::to_string(kRate), "--keys-dir",
                                keys_dir().string(), "--json", "--key", owner_key().string()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err << net_.Logs();
    dataset_ = json::parse(r.out).value("dataset", "");
    ASSERT_EQ(dataset_.size(), 32u) << r.out;
    ASSERT_TRUE(StartService()) << ReadFile(service_log());
  }
  void TearDown() override {
    if (service_) service_->Kill();
  }

  static constexpr uint64_t kRate = 1'000'000'000;
  fs::path owner_key() const { return net_.dir() / "keys" / "owner.key"; }
  fs::path keys_dir() const { return net_.dir() / "owner-data-keys"; }
  fs::path release_log() const { return net_.dir() / "releases.jsonl"; }
  fs::path service_log() const { return net_.dir() / "data-serve.log"; }

  // Starts `plume data serve` and waits until it listens (its log says so).
  bool StartService() {
    const size_t before = ReadFile(service_log()).size();
    service_ = Process::Spawn({PLUME_CLI_BIN, "data", "serve", dataset_, "--keys-dir",
                               keys_dir().string(), "--log", release_log().string(), "--key",
                               owner_key().string(), "--scheduler", net_.endpoint(),
                               "--scheduler-id", net_.scheduler_id()},
                              service_log());
    if (!service_) return false;
    for (int i = 0; i < 300; ++i) {
      const std::string log = ReadFile(service_log());
      if (log.find(" on " + endpoint_, before) != std::string::npos) return true;
      if (!service_->Running()) return false;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  // Release log lines of `event`.
  std::vector<json> LogLines(const std::string& event) const {
    std::vector<json> out;
    std::ifstream in(release_log());
    std::string line;
    while (std::getline(in, line)) {
      auto j = json::parse(line, nullptr, false);
      if (j.is_object() && j.value("event", "") == event) out.push_back(j);
    }
    return out;
  }
  json Access() {
    std::string why;
    auto a = net_.CliJson({"data", "access", dataset_, "--key", owner_key().string()}, &why);
    EXPECT_TRUE(a) << why;
    return a ? *a : json::array();
  }
  std::string Submit(int rounds) {
    TrainShape shape;
    shape.workers = 1;
    shape.rounds = rounds;
    shape.local_steps = 3;
    const fs::path spec = paid_.WriteSpec("secret-job", WriteTrainingText(net_.dir().path(), 4096),
                                          shape, 1'000'000'000'000);
    std::string why;
    auto ack = net_.CliJson({"submit", spec.string(), "--dataset", dataset_}, &why);
    EXPECT_TRUE(ack) << why << net_.Logs();
    return ack ? ack->value("job_id", "") : "";
  }
  // Files any process but the owner's wrote that hold the marker.
  std::vector<std::string> PlaintextOutsideTheOwner(const std::vector<std::string>& agents) const {
    std::vector<std::string> hits = FilesWithMarker(net_.dir().path() / "scheduler-data");
    const auto add = [&](const fs::path& p) {
      for (auto& h : FilesWithMarker(p)) hits.push_back(h);
    };
    add(net_.scheduler_log());
    for (const std::string& a : agents) {
      add(net_.dir().path() / ("agent-" + a + "-cache"));
      add(net_.agent_log(a));
    }
    return hits;
  }

  // Asks the key service with `g` as `who`; "" when a key came back that `who` can open, else
  // the refusal's text.
  std::string Ask(TransportClient& c, const Identity& who, const data::Grant& g,
                  const std::string& task) {
    auto req = c.NewRequest();
    auto q = req.body().initDataRequest();
    q.setDataset(dataset_);
    q.setJob(g.job);
    q.setTask(task);
    q.setGrant(AsData(data::EncodeGrant(g)));
    auto reply = c.Call(req, 15s);
    if (!reply) return "no answer";
    if (reply->kind() == MessageKind::ERROR) return reply->body().getError().getMessage().cStr();
    last_index_ = reply->body().getDataReply().getAccessIndex();
    auto sealed = reply->body().getDataReply().getSealedKey();
    auto key = data::OpenDataKey(std::vector<uint8_t>(sealed.begin(), sealed.end()), who);
    return key ? "" : "a key that does not open";
  }
  // The scheduler's identity (the test made its key) and its ledger's id, as a hostile client
  // could not have them: to make grants only the scheduler could make.
  Hash256 LedgerId(const Identity& asker) {
    Hash256 id{};
    auto server = PublicKeyFromHex(net_.scheduler_id());
    auto c = TransportClient::Connect(net_.endpoint(), *server, asker);
    if (!c) return id;
    auto req = (*c)->NewRequest();
    req.body().initLedgerQuery().setHead();
    auto reply = (*c)->Call(req, 10s);
    if (!reply || reply->kind() != MessageKind::LEDGER_REPLY) return id;
    auto bytes = reply->body().getLedgerReply().getHead().getLedgerId();
    if (bytes.size() == id.size()) std::copy(bytes.begin(), bytes.end(), id.begin());
    return id;
  }
  data::Grant GrantFor(const Identity& scheduler, const Hash256& ledger_id, const PublicKey& agent,
                       const std::string& task) const {
    data::Grant g;
    g.dataset = dataset_;
    g.job = "job-hostile";
    g.task = task;
    g.attempt = 1;
    g.agent = agent;
    g.issued_unix_ms = UnixMs();
    g.expires_unix_ms = g.issued_unix_ms + 600'000;
    g.scheduler_signature = data::SignGrant(g, ledger_id, scheduler);
    return g;
  }

  uint64_t last_index_ = 0;
  Network net_{"keyrelease"};
  PaidNetwork paid_{net_};
  std::string owner_id_;
  std::string endpoint_;
  std::string dataset_;
  std::optional<Process> service_;
};

}  // namespace plume::itest
