// The per-test network of real processes (see network.h).
#include "network.h"

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>

#include "plume/protocol/identity.h"

namespace plume::itest {
namespace fs = std::filesystem;

namespace {
// The binaries of this build, unless the environment names others (to run the suite against an
// installed or separately built copy).
std::string BinOr(const char* env, const char* built) {
  const char* v = std::getenv(env);
  return v && *v ? v : built;
}
}  // namespace

std::string SchedulerBin() { return BinOr("PLUME_SCHEDULER_BIN", PLUME_SCHEDULER_BIN); }
std::string AgentBin() { return BinOr("PLUME_AGENT_BIN", PLUME_AGENT_BIN); }
std::string CliBin() { return BinOr("PLUME_CLI_BIN", PLUME_CLI_BIN); }
std::string DataDir() { return PLUME_DATA_DIR; }

std::string MakeKey(const fs::path& path) {
  Identity id = Identity::Generate();
  if (!id.Save(path)) return "";
  return id.Id();
}

Network::Network(const std::string& name) : dir_("plume-it-" + name) {
  fs::create_directories(dir_ / "keys");
  scheduler_id_ = MakeKey(dir_ / "keys" / "scheduler.key");
  MakeKey(client_key());
}

Network::~Network() {
  // Agents first so they do not spend the teardown reconnecting to a dead scheduler.
  for (auto& [name, p] : agents_) p.Kill();
  scheduler_.Kill();
}

bool Network::StartScheduler(std::string* why, const std::vector<std::string>& extra,
                             const std::map<std::string, std::string>& env) {
  const fs::path endpoint_file = dir_ / "scheduler.endpoint";
  std::error_code ec;
  fs::remove(endpoint_file, ec);
  // A restart listens where the first run did, so running agents find it again.
  const std::string listen = endpoint_.empty() ? "tcp://127.0.0.1:0" : endpoint_;
  std::vector<std::string> argv = {SchedulerBin(),
                                   "--listen", listen,
                                   "--endpoint-file", endpoint_file.string(),
                                   "--data-dir", (dir_ / "scheduler-data").string(),
                                   "--key", (dir_ / "keys" / "scheduler.key").string(),
                                   "--lease-ms", "3000",
                                   "--sync", "normal",
                                   "--metrics-port", "0"};
  if (!audits_) argv.push_back("--no-audits");
  // Results final (and paid) at once, as the tests of other things expect; the stake tests give
  // their own challenge window after this (the last one counts). A window of 0 is outside the
  // governance bounds, which a scheduler with the ledger on allows only on a test network.
  argv.insert(argv.end(), {"--challenge-window-ms", "0", "--test-network"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  std::map<std::string, std::string> all_env = env;
  all_env["OMP_NUM_THREADS"] = "1";
  auto p = Process::Spawn(argv, scheduler_log(), all_env);
  if (!p) {
    *why = "cannot start " + SchedulerBin();
    return false;
  }
  scheduler_ = std::move(*p);
  // The endpoint file appears once the socket is bound; it holds the full endpoint (or a port).
  std::string content;
  const bool up = WaitUntil(
      [&] {
        content = ReadFile(endpoint_file);
        const bool complete = !content.empty() && content.back() == '\n';
        while (!content.empty() && (content.back() == '\n' || content.back() == ' ')) {
          content.pop_back();
        }
        return (complete && !content.empty()) || !scheduler_.Running();
      },
      seconds(30));
  if (!up || content.empty()) {
    *why = "scheduler did not write its endpoint file; log:\n" + Tail(scheduler_log());
    return false;
  }
  endpoint_ = content.rfind("tcp://", 0) == 0 ? content : "tcp://127.0.0.1:" + content;
  return true;
}

std::string Network::MakeAgentKey(const std::string& name) {
  if (!agent_ids_.count(name)) {
    agent_ids_[name] = MakeKey(dir_ / "keys" / ("agent-" + name + ".key"));
  }
  return agent_ids_.at(name);
}

bool Network::StartAgent(const std::string& name, std::string* why,
                         const std::vector<std::string>& extra, const std::string& scheduler_id,
                         const std::string& binary) {
  const fs::path key = dir_ / "keys" / ("agent-" + name + ".key");
  MakeAgentKey(name);
  const std::string bin = binary.empty() ? AgentBin() : binary;
  std::vector<std::string> argv = {bin,
                                   "--scheduler", endpoint_,
                                   "--scheduler-id", scheduler_id.empty() ? scheduler_id_ : scheduler_id,
                                   "--key", key.string(),
                                   "--name", name,
                                   "--cache-dir", (dir_ / ("agent-" + name + "-cache")).string(),
                                   "--price", "2000000000000",  // under the specs' max price (spec_util.cc)
                                   "--threads", "1",
                                   "--metrics-port", "0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  auto p = Process::Spawn(argv, agent_log(name), {{"OMP_NUM_THREADS", "1"}});
  if (!p) {
    *why = "cannot start " + bin;
    return false;
  }
  agents_[name] = std::move(*p);
  return true;
}

CommandResult Network::Cli(const std::vector<std::string>& args, seconds timeout,
                           const std::map<std::string, std::string>& env) const {
  std::vector<std::string> argv = {CliBin()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::map<std::string, std::string> e = {{"PLUME_SCHEDULER", endpoint_},
                                          {"PLUME_SCHEDULER_ID", scheduler_id_},
                                          {"PLUME_KEY", client_key().string()},
                                          {"OMP_NUM_THREADS", "1"}};
  for (const auto& [k, v] : env) e[k] = v;
  return RunCommand(argv, timeout, e);
}

std::optional<nlohmann::json> Network::CliJson(const std::vector<std::string>& args,
                                               std::string* why, seconds timeout) const {
  std::vector<std::string> a = args;
  a.push_back("--json");
  CommandResult r = Cli(a, timeout);
  if (r.exit_code != 0) {
    *why = "plume exited " + std::to_string(r.exit_code) + ": " + r.err;
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(r.out, nullptr, false);
  if (j.is_discarded()) {
    *why = "plume printed no JSON: " + r.out;
    return std::nullopt;
  }
  return j;
}

bool Network::WaitActiveNodes(size_t count, seconds timeout) {
  return WaitUntil(
      [&] {
        std::string why;
        auto nodes = CliJson({"nodes"}, &why, seconds(10));
        if (!nodes || !nodes->is_array()) return false;
        size_t active = 0;
        for (const auto& n : *nodes) active += n.value("state", "") == "active";
        return active >= count;
      },
      timeout, milliseconds(200));
}

std::optional<nlohmann::json> Network::WaitJobState(const std::string& job,
                                                    const std::set<std::string>& states,
                                                    seconds timeout) {
  std::optional<nlohmann::json> last;
  const bool ok = WaitUntil(
      [&] {
        std::string why;
        auto st = CliJson({"status", job}, &why, seconds(10));
        if (st) last = st;
        return st && states.count(st->value("state", ""));
      },
      timeout, milliseconds(200));
  if (!ok) return std::nullopt;
  return last;
}

bool Network::AgentLogHas(const std::string& name, const std::string& text) const {
  return ReadFile(agent_log(name)).find(text) != std::string::npos;
}

std::string Network::Logs() const {
  std::string out = "--- scheduler log:\n" + Tail(scheduler_log());
  for (const auto& [name, id] : agent_ids_) {
    out += "\n--- agent " + name + " log:\n" + Tail(agent_log(name));
  }
  return out;
}

fs::path WriteTrainingText(const fs::path& dir, size_t bytes) {
  std::string text = ReadFile(fs::path(DataDir()) / "tinyshakespeare.txt");
  if (text.size() > bytes) text.resize(bytes);
  const fs::path path = dir / "train.txt";
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace plume::itest
