// Shared set-up of the end-to-end tests that run paid jobs on a real network (payments_test.cc,
// audit_test.cc): the scheduler keeps a ledger under an operator key, the operator mints to the
// test's team through `plume ledger mint`, and train jobs are submitted with a maximum price.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "network.h"
#include "spec_util.h"

namespace plume::itest {

class PaidNetwork {
 public:
  // Makes the operator key; the network itself is net.
  explicit PaidNetwork(Network& net);

  // Starts (or restarts) the scheduler with the ledger on (--operator-id), then the flags of
  // SetSchedulerFlags.
  bool StartScheduler(std::string* why, const std::map<std::string, std::string>& env = {});
  // Flags every later (re)start gets after the ledger's (the last of a flag wins): the stake
  // tests' challenge window, unbonding period and minimum stake. Network's default window is 0.
  void SetSchedulerFlags(std::vector<std::string> flags) { flags_ = std::move(flags); }
  std::filesystem::path operator_key() const { return net_.dir() / "keys" / "operator.key"; }
  const std::string& operator_id() const { return operator_id_; }
  std::string ledger_dir() const { return (net_.dir() / "scheduler-data" / "ledger").string(); }
  // "team:<client id>": the account the test's client pays from.
  const std::string& team() const { return team_; }

  // `plume ledger mint` to the team, signed with `key`.
  CommandResult Mint(const std::string& id, int64_t amount, const std::filesystem::path& key);
  // Writes a train spec on `data` whose maximum price is max_price (micro-PLUME per PFLOP);
  // returns its path.
  std::filesystem::path WriteSpec(const std::string& name, const std::filesystem::path& data,
                                  const TrainShape& shape, uint64_t max_price);
  // Rewrites a spec written by spec_util.h to cap the price at max_price; returns its path.
  static std::filesystem::path SetMaxPrice(const std::filesystem::path& spec, uint64_t max_price);
  // `plume submit SPEC --json`; the job id, or "" (with a test failure) when refused.
  std::string Submit(const std::filesystem::path& spec);

  // The key file of agent `name` (Network::StartAgent makes it).
  std::filesystem::path AgentKey(const std::string& name) const {
    return net_.dir() / "keys" / ("agent-" + name + ".key");
  }
  // The operator mints `micro_plume` to agent `name`'s provider account, and the agent stakes
  // `stake_plume` (PLUME text) of it with `plume stake --key` over the protocol. False (with the
  // commands' output in *why) when either fails.
  bool FundAndStake(const std::string& name, int64_t micro_plume, const std::string& stake_plume,
                    std::string* why);
  // Every ledger entry (`plume ledger history --json` on the ledger directory, read-only).
  std::optional<nlohmann::json> History(std::string* why) const;
  // An account's balance read from the ledger directory; -1 when it is not open.
  int64_t Balance(const std::string& account) const;

 private:
  Network& net_;
  std::string operator_id_;
  std::string team_;
  std::vector<std::string> flags_;
};

}  // namespace plume::itest
