// The governance end-to-end tests' network (gov_test.cc, gov_exec_test.cc): a real
// plume-scheduler with the ledger on and short governance periods, the real plume CLI, and three
// provider keys that stake (a 600, b 300, c 100 PLUME; no agent needs to run to vote), with the
// CLI calls the tests make about proposals, parameters and the ledger.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "harness.h"
#include "network.h"
#include "paid_network.h"

namespace plume::itest {
namespace fs = std::filesystem;

inline constexpr int64_t kPlume = 1'000'000;
inline constexpr uint64_t kMaxPrice = 2'500'000'000'000;

class GovE2E : public ::testing::Test {
 protected:
  using json = nlohmann::json;
  // Voting 8 s (the CLI calls that vote must land inside it on a loaded two-core machine too),
  // timelock 10 s (>= unbonding 10 s), deposit 5 PLUME; stakers a 600, b 300, c 100.
  void SetUp() override { StartStaked({}); }
  // The scheduler with those rules, then `extra` flags (the last of a flag counts), and the three
  // stakers funded and staked.
  void StartStaked(const std::vector<std::string>& extra) {
    std::vector<std::string> flags = {"--unbonding-ms", "10000", "--gov-voting-period-ms", "8000",
                                      "--gov-timelock-ms", "10000",
                                      "--gov-deposit-min-micro-plume", "5000000"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    paid_.SetSchedulerFlags(flags);
    std::string why;
    ASSERT_TRUE(paid_.StartScheduler(&why)) << why;
    ASSERT_EQ(paid_.Mint("mint:team", 1000 * kPlume, paid_.operator_key()).exit_code, 0);
    for (const auto& [name, stake] :
         std::vector<std::pair<std::string, std::string>>{{"a", "600"}, {"b", "300"}, {"c", "100"}}) {
      const std::string id = MakeKey(Key(name));
      CommandResult mint = net_.Cli({"ledger", "mint", "--to", "provider:" + id, "--amount",
                                     std::to_string(1000 * kPlume), "--id", "mint:" + name,
                                     "--key", paid_.operator_key().string()});
      ASSERT_EQ(mint.exit_code, 0) << mint.out << mint.err << net_.Logs();
      CommandResult staked = net_.Cli({"stake", stake, "--key", Key(name).string()});
      ASSERT_EQ(staked.exit_code, 0) << staked.out << staked.err << net_.Logs();
    }
  }
  fs::path Key(const std::string& name) const { return net_.dir() / "keys" / ("staker-" + name + ".key"); }
  fs::path WriteProposal(const std::string& id, const std::string& param, int64_t value) {
    const fs::path path = net_.dir() / (id + ".toml");
    std::ofstream(path) << "id = \"" << id << "\"\ntitle = \"set " << param << "\"\n"
                        << "[change]\nparam = \"" << param << "\"\nvalue = " << value << "\n";
    return path;
  }
  CommandResult Propose(const std::string& id, const std::string& param, int64_t value) {
    return net_.Cli({"gov", "propose", WriteProposal(id, param, value).string(), "--json"});
  }
  // A treasury grant of `plume` PLUME (text) to `to`.
  CommandResult ProposeGrant(const std::string& id, const std::string& to, const std::string& plume) {
    const fs::path path = net_.dir() / (id + ".toml");
    std::ofstream(path) << "id = \"" << id << "\"\ntitle = \"grant\"\n[grant]\nto = \"" << to
                        << "\"\namount = \"" << plume << "\"\npurpose = \"port a kernel\"\n";
    return net_.Cli({"gov", "propose", path.string(), "--json"});
  }
  void Vote(const std::string& who, const std::string& id, const std::string& option) {
    CommandResult v = net_.Cli({"gov", "vote", id, option, "--key", Key(who).string(), "--json"});
    ASSERT_EQ(v.exit_code, 0) << v.out << v.err << net_.Logs();
  }
  json Show(const std::string& id) {
    std::string why;
    auto p = net_.CliJson({"gov", "show", id, "--json"}, &why);
    EXPECT_TRUE(p) << why;
    return p.value_or(json::object());
  }
  bool WaitFor(const std::function<bool()>& cond, std::chrono::seconds timeout) {
    return WaitUntil(cond, timeout, std::chrono::milliseconds(200));
  }
  // Balances recomputed by `plume ledger verify --json` (which also recounts every tally).
  json Verified() {
    CommandResult v = net_.Cli({"ledger", "verify", paid_.ledger_dir(), "--json"});
    EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
    return json::parse(v.out.empty() ? "{}" : v.out);
  }
  int64_t Param(const std::string& name, std::string* set_by = nullptr) {
    std::string why;
    // `plume status --network`: the parameters in force and the proposal that set each.
    auto p = net_.CliJson({"status", "--network", "--json"}, &why);
    EXPECT_TRUE(p) << why;
    const json all = p.value_or(json::object());
    for (const json& v : all["params"]) {
      if (v["name"] == name) {
        if (set_by) *set_by = v["set_by"];
        return v["value"].get<int64_t>();
      }
    }
    return -1;
  }
  json Quote(const fs::path& spec) {
    CommandResult q = net_.Cli({"quote", spec.string(), "--json"});
    EXPECT_EQ(q.exit_code, 0) << q.out << q.err;
    return json::parse(q.out.empty() ? "{}" : q.out);
  }
  int CountEntries(const std::string& id) {
    std::string why;
    auto history = paid_.History(&why);
    EXPECT_TRUE(history) << why;
    const json all = history.value_or(json::array());
    int n = 0;
    for (const json& e : all) n += e["id"] == id;
    return n;
  }

  Network net_{"gov"};
  PaidNetwork paid_{net_};
  fs::path data_ = WriteTrainingText(net_.dir().path(), 40'000);
};


}  // namespace plume::itest
