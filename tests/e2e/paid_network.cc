// Shared set-up of the paid end-to-end tests (paid_network.h).
#include "paid_network.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "plume/protocol/identity.h"

namespace plume::itest {

PaidNetwork::PaidNetwork(Network& net) : net_(net) {
  operator_id_ = MakeKey(operator_key());
  EXPECT_FALSE(operator_id_.empty());
  auto team = Identity::Load(net_.client_key());
  EXPECT_TRUE(team);
  if (team) team_ = "team:" + team->Id();
}

bool PaidNetwork::StartScheduler(std::string* why, const std::map<std::string, std::string>& env) {
  // --sync full: the scheduler refuses normal with a ledger (the last --sync given wins).
  std::vector<std::string> args = {"--operator-id", operator_id_, "--sync", "full"};
  args.insert(args.end(), flags_.begin(), flags_.end());
  return net_.StartScheduler(why, args, env);
}

bool PaidNetwork::FundAndStake(const std::string& name, int64_t micro_plume,
                               const std::string& stake_plume, std::string* why) {
  const std::string provider = "provider:" + net_.agent_id(name);
  CommandResult mint = net_.Cli({"ledger", "mint", "--to", provider, "--amount",
                                 std::to_string(micro_plume), "--id", "mint:" + name, "--key",
                                 operator_key().string()});
  if (mint.exit_code != 0) {
    *why = "mint to " + name + ": " + mint.out + mint.err;
    return false;
  }
  CommandResult stake = net_.Cli({"stake", stake_plume, "--key", AgentKey(name).string()});
  if (stake.exit_code != 0) {
    *why = "stake of " + name + ": " + stake.out + stake.err;
    return false;
  }
  return true;
}

std::optional<nlohmann::json> PaidNetwork::History(std::string* why) const {
  return net_.CliJson({"ledger", "history", "--ledger-dir", ledger_dir()}, why);
}

int64_t PaidNetwork::Balance(const std::string& account) const {
  std::string why;
  auto b = net_.CliJson({"balance", account, "--ledger-dir", ledger_dir()}, &why);
  EXPECT_TRUE(b) << why;
  return b && (*b)["open"].get<bool>() ? (*b)["balance_micro_plume"].get<int64_t>() : -1;
}

CommandResult PaidNetwork::Mint(const std::string& id, int64_t amount,
                                const std::filesystem::path& key) {
  return net_.Cli({"ledger", "mint", "--to", team_, "--amount", std::to_string(amount), "--id", id,
                   "--key", key.string(), "--ledger-dir", ledger_dir(), "--wait", "20"});
}

std::filesystem::path PaidNetwork::WriteSpec(const std::string& name,
                                             const std::filesystem::path& data,
                                             const TrainShape& shape, uint64_t max_price) {
  return SetMaxPrice(WriteTrainSpec(net_.dir().path(), name, data, shape), max_price);
}

std::filesystem::path PaidNetwork::SetMaxPrice(const std::filesystem::path& spec,
                                               uint64_t max_price) {
  std::string text;
  {
    std::ifstream in(spec);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  // Replaces the maximum price spec_util writes.
  const std::string from = "max_price_micro_plume_per_pflop = 2500000000000\n";
  const size_t at = text.find(from);
  EXPECT_NE(at, std::string::npos) << text;
  if (at != std::string::npos) {
    text.replace(at, from.size(),
                 "max_price_micro_plume_per_pflop = " + std::to_string(max_price) + "\n");
  }
  std::ofstream(spec, std::ios::trunc) << text;
  return spec;
}

std::string PaidNetwork::Submit(const std::filesystem::path& spec) {
  std::string why;
  auto ack = net_.CliJson({"submit", spec.string()}, &why);
  EXPECT_TRUE(ack) << why;
  return ack ? ack->value("job_id", "") : "";
}

}  // namespace plume::itest
