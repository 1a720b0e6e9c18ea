// A throw-away Plume network for one test: keys in a temp dir, a plume-scheduler on an
// ephemeral loopback port (it writes the port it bound to --port-file, which we wait for), any
// number of plume-agent processes, and the plume CLI pointed at it through its environment
// variables (PLUME_SCHEDULER, PLUME_SCHEDULER_ID, PLUME_KEY).
#pragma once

#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "harness.h"

namespace plume::itest {

// Paths of the binaries under test (empty when a target is not built).
std::string SchedulerBin();
std::string AgentBin();
std::string CliBin();
std::string DataDir();  // the repository's data/ folder

// Writes a fresh 0600 key file and returns the principal's id (hex public key).
std::string MakeKey(const std::filesystem::path& path);

class Network {
 public:
  explicit Network(const std::string& name);
  ~Network();

  const TempDir& dir() const { return dir_; }
  // Starts (or restarts, with the same data dir and key) the scheduler; waits for its port file.
  // Returns false (with the log tail in *why) when it did not come up in time.
  // env: added to the scheduler's environment (e.g. the power-cut shim's). Replay audits are off
  // unless EnableAudits() was called first (--no-audits): they re-run and settle tasks beyond the
  // job's own, which tests of other things do not expect. The challenge window is 0 (results
  // paid at once) unless `extra` gives one.
  bool StartScheduler(std::string* why, const std::vector<std::string>& extra = {},
                      const std::map<std::string, std::string>& env = {});
  void EnableAudits() { audits_ = true; }
  Process& scheduler() { return scheduler_; }
  const std::string& endpoint() const { return endpoint_; }
  const std::string& scheduler_id() const { return scheduler_id_; }
  std::filesystem::path scheduler_log() const { return dir_ / "scheduler.log"; }

  // Starts agent `name` with its own key and cache dir (both kept across restarts of that name).
  // scheduler_id: the id the agent is told the scheduler has (default: the real one); binary: an
  // agent built for a test (same flags as plume-agent) instead of plume-agent.
  bool StartAgent(const std::string& name, std::string* why,
                  const std::vector<std::string>& extra = {}, const std::string& scheduler_id = "",
                  const std::string& binary = "");
  // Makes agent `name`'s key now (StartAgent keeps it) and returns its id: for what must name
  // the agent before it starts (an owner attestation).
  std::string MakeAgentKey(const std::string& name);
  Process& agent(const std::string& name) { return agents_.at(name); }
  std::string agent_id(const std::string& name) const { return agent_ids_.at(name); }
  std::filesystem::path agent_log(const std::string& name) const {
    return dir_ / ("agent-" + name + ".log");
  }

  // Runs `plume args...` as the test's client (key client.key), with a timeout.
  CommandResult Cli(const std::vector<std::string>& args, seconds timeout = seconds(60),
                    const std::map<std::string, std::string>& env = {}) const;
  // `plume ... --json` parsed; nullopt (with why) when the command failed or printed no JSON.
  std::optional<nlohmann::json> CliJson(const std::vector<std::string>& args, std::string* why,
                                        seconds timeout = seconds(60)) const;

  // Polls `plume nodes --json` until `count` nodes are active.
  bool WaitActiveNodes(size_t count, seconds timeout);
  // Polls `plume status JOB --json` until its state is in `states`; returns the last status.
  std::optional<nlohmann::json> WaitJobState(const std::string& job,
                                             const std::set<std::string>& states,
                                             seconds timeout);
  // Everything the scheduler and agents logged, for a failure message.
  std::string Logs() const;

  std::filesystem::path client_key() const { return dir_ / "keys" / "client.key"; }
  // Whether `text` appears in the agent's log (for waiting on what an agent did).
  bool AgentLogHas(const std::string& name, const std::string& text) const;

 private:
  TempDir dir_;
  Process scheduler_;
  std::string endpoint_;
  std::string scheduler_id_;
  bool audits_ = false;
  std::map<std::string, Process> agents_;
  std::map<std::string, std::string> agent_ids_;
};

// A small training text (a slice of data/tinyshakespeare.txt) written into dir; returns its path.
std::filesystem::path WriteTrainingText(const std::filesystem::path& dir, size_t bytes);

}  // namespace plume::itest
