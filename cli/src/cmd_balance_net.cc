// `plume balance` through the scheduler (cmd_ledger.cc registers it; docs/payments.md).
//
// With an account: that account's balance as before, plus what only the scheduler knows: for a
// provider:/team: account the pay of results not settled yet ("pending verification": held for
// an audit or the challenge window), for an unbond: account its tranches and release times.
// Without one: the caller's whole position under its key, in one view: team (free to spend on
// jobs), provider (earnings, free), stake (staked, what placement counts), unbond (unbonding,
// still slashable, with release times) and pending verification on both sides. Balances are
// the scheduler's word (no proof covers a balance); `plume ledger prove` checks entries.
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cmd_net.h"
#include "ledger_cli.h"
#include "ledger_net.h"
#include "plume/ledger/query.h"
#include "plume/scheduler/ledger_wire.h"
#include "plume_amount.h"

namespace plume::cli {
namespace {

using nlohmann::json;

struct Tranche {
  std::string entry;
  int64_t amount = 0;
  uint64_t release_at_ms = 0;
};

struct AccountView {
  std::string account;
  bool open = false;
  int64_t balance = 0;
  int64_t pending = 0;
  std::optional<ledger::HoldInfo> hold;
  std::vector<Tranche> tranches;
};

AccountView Ask(NetClient& client, const std::string& account) {
  auto req = client.NewRequest();
  req.body().initLedgerQuery().setBalance(account);
  Message reply = LedgerCall(client, req, wire::LedgerReply::BALANCE);
  auto b = reply.body().getLedgerReply().getBalance();
  AccountView v;
  v.account = b.getAccount();
  v.open = b.getOpen();
  v.balance = b.getBalanceMicroPlume();
  v.pending = b.getPendingMicroPlume();
  if (b.getHasHold()) v.hold = scheduler::ReadHold(b.getHold());
  for (auto t : b.getTranches()) {
    v.tranches.push_back({t.getEntryId(), t.getAmountMicroPlume(), t.getReleaseAtMs()});
  }
  return v;
}

json TranchesJson(const std::vector<Tranche>& tranches) {
  json out = json::array();
  for (const Tranche& t : tranches) {
    out.push_back({{"entry", t.entry},
                   {"amount_micro_plume", t.amount},
                   {"release_at_ms", t.release_at_ms}});
  }
  return out;
}

void PrintTranches(const std::vector<Tranche>& tranches) {
  for (const Tranche& t : tranches) {
    std::cout << "    " << PlumeText(t.amount) << " released at " << t.release_at_ms
              << " (unix ms; " << t.entry << ")\n";
  }
}

// One account, as `plume balance ACCOUNT` always printed it, plus pending and tranches.
void PrintOne(const AccountView& v, bool as_json) {
  if (as_json) {
    json j{{"account", v.account},
           {"open", v.open},
           {"balance_micro_plume", v.balance},
           {"pending_micro_plume", v.pending}};
    if (v.hold) {
      j["hold"] = {{"team", v.hold->team},         {"held", v.hold->held.value()},
                   {"paid", v.hold->paid.value()}, {"fees", v.hold->fees.value()},
                   {"released", v.hold->released.value()}, {"closed", v.hold->closed}};
    }
    if (v.account.starts_with("unbond:")) j["tranches"] = TranchesJson(v.tranches);
    std::cout << j.dump() << "\n";
    return;
  }
  std::optional<ledger::MicroPlume> balance;
  if (v.open) balance = ledger::MicroPlume(v.balance);
  PrintBalance(v.account, balance, v.hold, false);
  if (v.pending > 0) {
    std::cout << "  pending verification " << PlumeText(v.pending)
              << " (results not settled yet: audit or challenge window)\n";
  }
  PrintTranches(v.tranches);
}

void PrintWallet(const AccountView& team, const AccountView& provider, const AccountView& stake,
                 const AccountView& unbond, bool as_json) {
  if (as_json) {
    // The team's fields stay where `plume balance --json` always had them.
    std::cout << json{{"account", team.account},
                      {"open", team.open},
                      {"balance_micro_plume", team.balance},
                      {"pending_micro_plume", team.pending},
                      {"provider",
                       {{"account", provider.account},
                        {"open", provider.open},
                        {"balance_micro_plume", provider.balance},
                        {"pending_micro_plume", provider.pending}}},
                      {"staked_micro_plume", stake.balance},
                      {"unbonding_micro_plume", unbond.balance},
                      {"tranches", TranchesJson(unbond.tranches)}}
                     .dump()
              << "\n";
    return;
  }
  auto line = [](const char* what, const AccountView& v, const char* note) {
    std::cout << what << PlumeText(v.balance) << (v.open ? "" : " (not open)") << "  "
              << v.account << note << "\n";
  };
  line("team       ", team, "  free, pays for jobs");
  if (team.pending > 0) {
    std::cout << "  pending verification " << PlumeText(team.pending)
              << " (your jobs' results not settled yet)\n";
  }
  line("provider   ", provider, "  free, earnings");
  if (provider.pending > 0) {
    std::cout << "  pending verification " << PlumeText(provider.pending)
              << " (your results not settled yet: audit or challenge window)\n";
  }
  line("staked     ", stake, "  counts for placement, slashable");
  line("unbonding  ", unbond, "  slashable until released");
  PrintTranches(unbond.tranches);
}

}  // namespace

void BalanceOverNet(const LedgerFlags& flags, const std::string& account) {
  Connection c = ConnectLedger(flags);
  if (!account.empty()) return PrintOne(Ask(*c.client, account), flags.json);
  const std::string me = c.client->identity().Id();
  PrintWallet(Ask(*c.client, "team:" + me), Ask(*c.client, "provider:" + me),
              Ask(*c.client, "stake:" + me), Ask(*c.client, "unbond:" + me), flags.json);
}

}  // namespace plume::cli
