// `plume stake`, `plume unstake`, `plume transfer`: ledger entries the caller's key signs and the
// scheduler appends (LedgerSubmit; docs/protocol.md "Ledger", docs/payments.md "Stake"). A
// provider runs them with --key of its agent's key file: the stake is provider:<key> ->
// stake:<key>, signed by that key.
//
//   plume stake AMOUNT            provider:<key> -> stake:<key>
//   plume unstake AMOUNT          stake:<key> -> unbond:<key>, released after the unbonding
//                                 period (the scheduler then withdraws it to provider:<key>)
//   plume transfer TO AMOUNT      team:<key> (or --from provider) -> TO
//
// AMOUNT is PLUME with up to six decimals, parsed as an integer (plume_amount.h). Bad input is
// refused here (exit 2) before anything is sent; a refusal by the ledger names its code (exit 1)
// and changes nothing. A retry with the same --id is applied once.
#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>

#include "cmd_net.h"
#include "commands.h"
#include "ledger_cli.h"
#include "ledger_net.h"
#include "plume/ledger/limits.h"
#include "plume_amount.h"

namespace plume::cli {
namespace {

using nlohmann::json;

struct StakeFlags {
  LedgerFlags ledger;
  std::string amount;
  std::string id;
  std::string to;
  std::string from = "team";
};

int64_t AmountOrFail(const std::string& text) {
  auto micro = ParsePlumeAmount(text);
  if (!micro) Fail(kExitBadInput, micro.error().message);
  return *micro;
}

// `--id` as given (checked), else "<kind>:<16 hex of the key>:<unix microseconds>".
std::string EntryId(const std::string& given, const std::string& kind, const std::string& me) {
  if (!given.empty()) {
    if (given.size() > ledger::kEntryIdBytesMax) {
      Fail(kExitBadInput, "--id is at most " + std::to_string(ledger::kEntryIdBytesMax) + " bytes");
    }
    return given;
  }
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  return kind + ":" + me.substr(0, 16) + ":" + std::to_string(us);
}

void Report(const StakeFlags& f, const Applied& a, const ledger::Entry& e, const std::string& what,
            const json& extra = json::object()) {
  if (f.ledger.json) {
    json j{{"id", a.id},
           {"index", a.index},
           {"repeated", a.repeated},
           {"type", std::string(ledger::EntryTypeName(e.type))},
           {"from", e.from},
           {"to", e.to},
           {"amount_micro_plume", e.amount.value()}};
    j.update(extra);
    std::cout << j.dump() << "\n";
    return;
  }
  std::cout << (a.repeated ? "already applied " : "applied ") << a.id << " as entry #" << a.index
            << ": " << what << "\n";
}

void RunStake(const StakeFlags& f) {
  const int64_t amount = AmountOrFail(f.amount);
  Connection c = ConnectLedger(f.ledger);
  const Identity& me = c.client->identity();
  ledger::Entry e = ledger::MakeStake(EntryId(f.id, "stake", me.Id()), me.public_key(),
                                      ledger::MicroPlume(amount));
  e.signatures.push_back(ledger::SignEntry(e, AskLedgerId(*c.client), me));
  const Applied a = SubmitSigned(*c.client, e);
  Report(f, a, e, "staked " + PlumeText(amount) + " from " + e.from);
}

// The provider signs the tranche's release time, so it asks the scheduler for its clock and
// unbonding period first and signs a time the scheduler will accept: at least now + the period
// on the scheduler's clock when the unstake arrives (docs/protocol.md "Unstake and the release
// time"). The margin covers the request's own trip.
void RunUnstake(const StakeFlags& f) {
  const int64_t amount = AmountOrFail(f.amount);
  Connection c = ConnectLedger(f.ledger);
  const Identity& me = c.client->identity();
  const ledger::LedgerId ledger_id = AskLedgerId(*c.client);
  auto ask = c.client->NewRequest();
  ask.body().initLedgerQuery().setStakeTerms();
  const auto asked = std::chrono::steady_clock::now();
  Message reply = LedgerCall(*c.client, ask, wire::LedgerReply::STAKE_TERMS);
  const auto terms = reply.body().getLedgerReply().getStakeTerms();
  const uint64_t trip = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::steady_clock::now() - asked)
                                                  .count());
  const uint64_t margin = std::min<uint64_t>(5'000, terms.getUnstakeSkewMs() / 2);
  const uint64_t release_at = terms.getNowUnixMs() + trip + terms.getUnbondingMs() + margin;
  ledger::Entry e = ledger::MakeUnstake(EntryId(f.id, "unstake", me.Id()), me.public_key(),
                                        ledger::MicroPlume(amount), release_at);
  e.signatures.push_back(ledger::SignEntry(e, ledger_id, me));
  const Applied a = SubmitSigned(*c.client, e);
  Report(f, a, e,
         "unstaked " + PlumeText(amount) + " into " + e.to + ", released at " +
             std::to_string(release_at) + " (unix ms, after the unbonding period of " +
             std::to_string(terms.getUnbondingMs()) + " ms; slashable until then)",
         json{{"release_at_ms", release_at}, {"unbonding_ms", terms.getUnbondingMs()}});
}

// --from: "team" or "provider" (the caller's own account of that kind), or an account name.
std::string FromAccount(const std::string& from, const std::string& me) {
  if (from == "team" || from == "provider") return from + ":" + me;
  const std::string account = NormalizeAccount(from);
  if (std::string why = ledger::AccountNameProblem(account); !why.empty()) {
    Fail(kExitBadInput, "--from " + from + ": " + why);
  }
  return account;
}

void RunTransfer(const StakeFlags& f) {
  const int64_t amount = AmountOrFail(f.amount);
  const std::string to = NormalizeAccount(f.to);
  const bool spendable = to.starts_with("team:") || to.starts_with("provider:") ||
                         to == ledger::kTreasury;
  if (!ledger::AccountNameProblem(to).empty() || !spendable) {
    Fail(kExitBadInput, "TO " + f.to.substr(0, 100) +
                            ": give team:<key>, provider:<key>, treasury, or a bare 64-hex key "
                            "(= its team account)");
  }
  Connection c = ConnectLedger(f.ledger);
  const Identity& me = c.client->identity();
  const std::string from = FromAccount(f.from, me.Id());
  if (from == to) Fail(kExitBadInput, "TO is the account the transfer comes from (" + from + ")");
  ledger::Entry e = ledger::MakeTransfer(EntryId(f.id, "transfer", me.Id()), from, to,
                                         ledger::MicroPlume(amount));
  e.signatures.push_back(ledger::SignEntry(e, AskLedgerId(*c.client), me));
  const Applied a = SubmitSigned(*c.client, e);
  Report(f, a, e, "transferred " + PlumeText(amount) + " from " + from + " to " + to);
}

void AddFlags(CLI::App* cmd, StakeFlags& f, const std::string& key_help) {
  cmd->add_option("--scheduler", f.ledger.scheduler,
                  "scheduler endpoint tcp://HOST:PORT (default $PLUME_SCHEDULER)");
  cmd->add_option("--scheduler-id", f.ledger.scheduler_id,
                  "the scheduler's public key, hex (default $PLUME_SCHEDULER_ID)");
  cmd->add_option("--key", f.ledger.key, key_help + " (default $PLUME_KEY)");
  cmd->add_option("--id", f.id, "entry id (a retry with the same id is applied once)");
  cmd->add_flag("--json", f.ledger.json, "machine-readable output");
}

}  // namespace

void RegisterStakeCommands(CLI::App& app) {
  static StakeFlags f;
  const std::string agent_key = "the provider's key file (the agent's --key), which signs";
  auto* stake = app.add_subcommand("stake", "lock PLUME from your provider account as stake");
  stake->add_option("amount", f.amount, "PLUME, up to 6 decimals (e.g. 100 or 0.5)")->required();
  AddFlags(stake, f, agent_key);
  stake->callback([] { RunStake(f); });

  auto* unstake = app.add_subcommand(
      "unstake", "start unbonding stake; it returns to your provider account after the period");
  unstake->add_option("amount", f.amount, "PLUME, up to 6 decimals")->required();
  AddFlags(unstake, f, agent_key);
  unstake->callback([] { RunUnstake(f); });

  auto* transfer = app.add_subcommand("transfer", "move PLUME from your account to another");
  transfer->add_option("to", f.to, "team:<key>, provider:<key>, treasury, or a bare key (team)")
      ->required();
  transfer->add_option("amount", f.amount, "PLUME, up to 6 decimals")->required();
  transfer->add_option("--from", f.from,
                       "team (default) or provider: your own account of that kind; or an "
                       "account name your key owns");
  AddFlags(transfer, f, "your key file (a provider's: the agent's key file), which signs");
  transfer->callback([] { RunTransfer(f); });
}

}  // namespace plume::cli
