// `plume gov`: governance by stake (docs/governance.md). Reads go through the scheduler
// (GovRequest); a proposal or vote is a ledger entry signed here with --key and co-signed and
// appended by the scheduler, which checks it first (bounds, deposit, voting power).
//
//   plume gov params               the parameters in force, their bounds, the proposal that set each
//   plume gov list | show ID       proposals with their stake-weighted tallies
//   plume gov propose FILE.toml    a parameter change or a treasury grant, with a deposit
//   plume gov vote ID yes|no|abstain|veto --key AGENT.key
//   plume gov tally ID [--ledger-dir D]   the tally; with --ledger-dir recounted from the ledger
//                                  alone (gov::Recount), without trusting the scheduler
// Exit codes: 0 ok, 1 failure or refusal by the ledger, 2 bad input (including a proposal the
// scheduler refused as out of bounds).
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <toml++/toml.h>

#include "cmd_net.h"
#include "commands.h"
#include "ledger_cli.h"
#include "ledger_net.h"
#include "plume/gov/book.h"
#include "plume/gov/proposal.h"
#include "plume/ledger/gov.h"
#include "plume/ledger/ledger.h"
#include "plume_amount.h"

namespace plume::cli {
namespace {
using nlohmann::json;

struct GovFlags {
  LedgerFlags ledger;
  std::string id, option, file;
};

Message GovCall(NetClient& client, const MessageBuilder& request, wire::GovReply::Which want) {
  auto reply = client.Call(request);
  if (!reply) FailWith(reply.error());
  if (reply->kind() != MessageKind::GOV_REPLY || reply->body().getGovReply().which() != want) {
    Fail(kExitFailure, "the scheduler sent a " + std::string(KindName(reply->kind())) +
                           " that is not the governance reply asked for");
  }
  return std::move(*reply);
}

struct Terms {
  gov::Params params;
  uint64_t now_ms = 0;  // the scheduler's clock, plus the request's trip
};

Terms AskTerms(NetClient& client) {
  auto ask = client.NewRequest();
  ask.body().initGovRequest().setParams();
  const auto sent = std::chrono::steady_clock::now();
  Message reply = GovCall(client, ask, wire::GovReply::PARAMS);
  const auto trip = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - sent);
  const auto p = reply.body().getGovReply().getParams();
  Terms t;
  for (auto v : p.getValues()) {
    if (auto param = gov::ParamByName(std::string(v.getName()))) t.params.Set(*param, v.getValue());
  }
  t.now_ms = p.getNowUnixMs() + static_cast<uint64_t>(trip.count());
  return t;
}

json ProposalJson(wire::GovProposal::Reader p) {
  return json{{"id", p.getId()}, {"kind", p.getKind()}, {"title", p.getTitle()},
              {"param", p.getParam()}, {"value", p.getValue()}, {"grant_to", p.getGrantTo()},
              {"grant_micro_plume", p.getGrantMicroPlume()}, {"purpose", p.getPurpose()},
              {"proposer", p.getProposer()}, {"deposit_micro_plume", p.getDepositMicroPlume()},
              {"index", p.getIndex()}, {"opened_at_ms", p.getOpenedAtMs()},
              {"voting_end_ms", p.getVotingEndMs()}, {"executable_at_ms", p.getExecutableAtMs()},
              {"yes", p.getYesMicroPlume()}, {"no", p.getNoMicroPlume()},
              {"abstain", p.getAbstainMicroPlume()}, {"veto", p.getVetoMicroPlume()},
              {"staked", p.getStakedMicroPlume()}, {"voters", p.getVoters()},
              {"outcome", p.getOutcome()}, {"executed", p.getExecuted()}};
}

std::string What(const json& p) {
  if (p["kind"] == "grant") {
    return "grant " + PlumeText(p["grant_micro_plume"].get<int64_t>()) + " to " +
           p["grant_to"].get<std::string>();
  }
  return p["param"].get<std::string>() + " = " + std::to_string(p["value"].get<int64_t>());
}

void PrintProposal(const json& p) {
  const int64_t staked = p["staked"].get<int64_t>();
  const int64_t cast = p["yes"].get<int64_t>() + p["no"].get<int64_t>() +
                       p["abstain"].get<int64_t>() + p["veto"].get<int64_t>();
  std::cout << p["id"].get<std::string>() << "  " << What(p) << "  "
            << (p["outcome"] == "" ? "open" : p["outcome"].get<std::string>())
            << (p["executed"].get<bool>() ? ", executed" : "") << "  yes "
            << PlumeText(p["yes"].get<int64_t>()) << " no " << PlumeText(p["no"].get<int64_t>())
            << " abstain " << PlumeText(p["abstain"].get<int64_t>()) << " veto "
            << PlumeText(p["veto"].get<int64_t>()) << "  turnout "
            << (staked > 0 ? 100.0 * static_cast<double>(cast) / static_cast<double>(staked) : 0.0)
            << "% of " << PlumeText(staked) << " staked, " << p["voters"].get<uint32_t>()
            << " voters\n";
}

json Proposals(const GovFlags& f, const std::string& show) {
  Connection c = ConnectLedger(f.ledger);
  auto ask = c.client->NewRequest();
  auto r = ask.body().initGovRequest();
  if (show.empty()) r.setList(); else r.setShow(show);
  Message reply = GovCall(*c.client, ask, wire::GovReply::PROPOSALS);
  json out = json::array();
  for (auto p : reply.body().getGovReply().getProposals()) out.push_back(ProposalJson(p));
  return out;
}

void RunParams(const GovFlags& f) {
  Connection c = ConnectLedger(f.ledger);
  auto ask = c.client->NewRequest();
  ask.body().initGovRequest().setParams();
  Message reply = GovCall(*c.client, ask, wire::GovReply::PARAMS);
  const auto p = reply.body().getGovReply().getParams();
  json out = json::array();
  for (auto v : p.getValues()) {
    out.push_back(json{{"name", v.getName()}, {"value", v.getValue()}, {"min", v.getMin()},
                       {"max", v.getMax()}, {"unit", v.getUnit()}, {"set_by", v.getSetBy()}});
  }
  if (f.ledger.json) {
    std::cout << json{{"params", out}, {"open_proposals", p.getOpenProposals()},
                      {"treasury_micro_plume", p.getTreasuryMicroPlume()},
                      {"unbonding_ms", p.getUnbondingMs()}}.dump() << "\n";
    return;
  }
  for (const json& v : out) {
    const std::string by = v["set_by"];
    std::cout << v["name"].get<std::string>() << " = " << v["value"].get<int64_t>() << " "
              << v["unit"].get<std::string>() << "  [" << v["min"].get<int64_t>() << ", "
              << v["max"].get<int64_t>() << "]  set by "
              << (by.empty() ? "the operator's flag" : "proposal " + by) << "\n";
  }
  std::cout << p.getOpenProposals() << " open proposals; treasury "
            << PlumeText(p.getTreasuryMicroPlume()) << "\n";
}

void Submit(const GovFlags& f, NetClient& client, const ledger::Entry& e, bool propose) {
  const std::vector<uint8_t> bytes = ledger::Encode(e);
  auto req = client.NewRequest();
  auto g = req.body().initGovRequest();
  if (propose) g.setPropose(AsData(bytes)); else g.setVote(AsData(bytes));
  Message reply = GovCall(client, req, wire::GovReply::APPLIED);
  const auto a = reply.body().getGovReply().getApplied();
  if (f.ledger.json) {
    std::cout << json{{"id", a.getEntryId()}, {"index", a.getIndex()},
                      {"repeated", a.getRepeated()}}.dump() << "\n";
  } else {
    std::cout << (a.getRepeated() ? "already applied " : "applied ") << std::string(a.getEntryId())
              << " as entry #" << a.getIndex() << "\n";
  }
}

// The proposal file (docs/governance.md "Proposal files").
ledger::ProposalBody ReadProposal(const std::string& path, std::string& id, int64_t& deposit,
                                  std::string& from) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    Fail(kExitBadInput, path + ": " + std::string(e.description()));
  }
  ledger::ProposalBody b;
  id = t["id"].value_or(std::string());
  b.title = t["title"].value_or(std::string());
  from = t["from"].value_or(std::string("team"));
  if (auto d = t["deposit"].value<std::string>()) {
    auto micro = ParsePlumeAmount(*d);
    if (!micro) Fail(kExitBadInput, path + ": deposit: " + micro.error().message);
    deposit = *micro;
  }
  if (auto change = t["change"].as_table()) {
    b.kind = ledger::ProposalKind::kParamChange;
    b.param = (*change)["param"].value_or(std::string());
    auto value = (*change)["value"].value<int64_t>();
    if (b.param.empty() || !value) Fail(kExitBadInput, path + ": [change] needs param and value");
    b.value = *value;
  } else if (auto grant = t["grant"].as_table()) {
    b.kind = ledger::ProposalKind::kGrant;
    b.grant_to = NormalizeAccount((*grant)["to"].value_or(std::string()));
    auto micro = ParsePlumeAmount((*grant)["amount"].value_or(std::string()));
    if (!micro) Fail(kExitBadInput, path + ": [grant] amount: " + micro.error().message);
    b.grant_amount = ledger::MicroPlume(*micro);
    b.purpose = (*grant)["purpose"].value_or(std::string());
  } else {
    Fail(kExitBadInput, path + ": a proposal needs a [change] or a [grant] table");
  }
  return b;
}

void RunPropose(const GovFlags& f) {
  std::string id, from;
  int64_t deposit = 0;
  ledger::ProposalBody draft = ReadProposal(f.file, id, deposit, from);
  if (id.empty()) id = "p-" + std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch()).count());
  if (std::string why = ledger::ProposalIdProblem(id); !why.empty()) Fail(kExitBadInput, why);
  Connection c = ConnectLedger(f.ledger);
  const Identity& me = c.client->identity();
  const Terms terms = AskTerms(*c.client);
  if (deposit == 0) deposit = terms.params.Get(gov::Param::kDepositMin);
  const std::string account = (from == "provider" ? "provider:" : "team:") + me.Id();
  ledger::Entry e = ledger::MakeProposal(id, account, ledger::MicroPlume(deposit), terms.now_ms,
                                         gov::WithTerms(draft, terms.params, terms.now_ms));
  e.signatures.push_back(ledger::SignEntry(e, AskLedgerId(*c.client), me));
  Submit(f, *c.client, e, true);
}

void RunVote(const GovFlags& f) {
  ledger::VoteOption option;
  if (f.option == "yes") option = ledger::VoteOption::kYes;
  else if (f.option == "no") option = ledger::VoteOption::kNo;
  else if (f.option == "abstain") option = ledger::VoteOption::kAbstain;
  else if (f.option == "veto") option = ledger::VoteOption::kVeto;
  else Fail(kExitBadInput, "vote yes, no, abstain or veto");
  Connection c = ConnectLedger(f.ledger);
  const Identity& me = c.client->identity();
  const Terms terms = AskTerms(*c.client);
  const std::string id = "v-" + me.Id().substr(0, 12) + "-" + std::to_string(terms.now_ms);
  ledger::Entry e = ledger::MakeVote(id, me.public_key(), terms.now_ms,
                                     ledger::VoteBody{f.id, option});
  e.signatures.push_back(ledger::SignEntry(e, AskLedgerId(*c.client), me));
  Submit(f, *c.client, e, false);
}

// From the ledger directory alone: every tally recounted (the scheduler is not asked).
json OfflineTally(const std::string& dir, const std::string& id) {
  auto ledger = OpenOrFail(dir);
  gov::Book book;
  gov::Recounter recounter;
  auto s = ledger->ForEachEntry(0, [&](const ledger::LoggedEntry& l) {
    (void)book.Apply(l.index, l.entry);
    return recounter.Add(l.entry);
  });
  if (!s) Fail(kExitFailure, "reading " + dir + ": " + s.error().message);
  const gov::RecountReport r = recounter.Finish();
  if (!r.ok) Fail(kExitFailure, "recount FAILED: " + r.problem);
  auto v = book.Find(id);
  if (!v) Fail(kExitFailure, "no proposal " + id + " in " + dir);
  return json{{"id", v->id}, {"yes", v->tally.yes.value()}, {"no", v->tally.no.value()},
              {"abstain", v->tally.abstain.value()}, {"veto", v->tally.veto.value()},
              {"staked", v->tally.staked.value()}, {"voters", v->tally.voters},
              {"outcome", v->outcome ? std::string(ledger::OutcomeResultName(*v->outcome)) : ""}};
}

void RunTally(const GovFlags& f) {
  json t;
  if (!f.ledger.dir.empty()) {
    t = OfflineTally(f.ledger.dir, f.id);
  } else {
    const json p = Proposals(f, f.id).at(0);
    t = json{{"id", p["id"]}, {"yes", p["yes"]}, {"no", p["no"]}, {"abstain", p["abstain"]},
             {"veto", p["veto"]}, {"staked", p["staked"]}, {"voters", p["voters"]},
             {"outcome", p["outcome"]}};
  }
  if (f.ledger.json) {
    std::cout << t.dump() << "\n";
    return;
  }
  std::cout << t["id"].get<std::string>() << ": yes " << PlumeText(t["yes"].get<int64_t>())
            << ", no " << PlumeText(t["no"].get<int64_t>()) << ", abstain "
            << PlumeText(t["abstain"].get<int64_t>()) << ", veto "
            << PlumeText(t["veto"].get<int64_t>()) << " of " << PlumeText(t["staked"].get<int64_t>())
            << " staked (" << t["voters"].get<uint32_t>() << " voters): "
            << (t["outcome"] == "" ? "voting open" : t["outcome"].get<std::string>())
            << (f.ledger.dir.empty() ? " (the scheduler's count)" : " (recounted from the ledger)")
            << "\n";
}

void AddFlags(CLI::App* cmd, GovFlags& f) {
  cmd->add_option("--scheduler", f.ledger.scheduler, "scheduler endpoint (default $PLUME_SCHEDULER)");
  cmd->add_option("--scheduler-id", f.ledger.scheduler_id,
                  "the scheduler's public key, hex (default $PLUME_SCHEDULER_ID)");
  cmd->add_option("--key", f.ledger.key, "your key file (a voter: the agent's key) (default $PLUME_KEY)");
  cmd->add_flag("--json", f.ledger.json, "machine-readable output");
}

}  // namespace

void RunNetworkParams(const NetFlags& flags) {
  GovFlags f;
  f.ledger.scheduler = flags.scheduler;
  f.ledger.scheduler_id = flags.scheduler_id;
  f.ledger.key = flags.key;
  f.ledger.json = flags.json;
  RunParams(f);
}

void RegisterGovCommands(CLI::App& app) {
  static GovFlags f;
  auto* gov = app.add_subcommand("gov", "governance by stake: parameters, proposals, votes");
  gov->require_subcommand(1);
  auto* params = gov->add_subcommand("params", "the network parameters in force and their bounds");
  AddFlags(params, f);
  params->callback([] { RunParams(f); });
  auto* list = gov->add_subcommand("list", "proposals with their tallies");
  AddFlags(list, f);
  list->callback([] {
    const json all = Proposals(f, "");
    if (f.ledger.json) return void(std::cout << all.dump() << "\n");
    for (const json& p : all) PrintProposal(p);
  });
  auto* show = gov->add_subcommand("show", "one proposal");
  show->add_option("id", f.id, "proposal id")->required();
  AddFlags(show, f);
  show->callback([] {
    const json p = Proposals(f, f.id).at(0);
    if (f.ledger.json) return void(std::cout << p.dump() << "\n");
    PrintProposal(p);
    std::cout << "  title: " << p["title"].get<std::string>() << "\n  proposer: "
              << p["proposer"].get<std::string>() << ", deposit "
              << PlumeText(p["deposit_micro_plume"].get<int64_t>()) << "\n  voting ends "
              << p["voting_end_ms"].get<uint64_t>() << ", executable from "
              << p["executable_at_ms"].get<uint64_t>() << " (unix ms)\n";
  });
  auto* propose = gov->add_subcommand("propose", "propose a parameter change or a treasury grant");
  propose->add_option("file", f.file, "proposal TOML (docs/governance.md)")->required();
  AddFlags(propose, f);
  propose->callback([] { RunPropose(f); });
  auto* vote = gov->add_subcommand("vote", "vote with your stake (a later vote replaces yours)");
  vote->add_option("id", f.id, "proposal id")->required();
  vote->add_option("option", f.option, "yes, no, abstain or veto")->required();
  AddFlags(vote, f);
  vote->callback([] { RunVote(f); });
  auto* tally = gov->add_subcommand("tally", "a proposal's stake-weighted tally");
  tally->add_option("id", f.id, "proposal id")->required();
  tally->add_option("--ledger-dir", f.ledger.dir,
                    "recount from this ledger directory alone instead of asking the scheduler");
  AddFlags(tally, f);
  tally->callback([] { RunTally(f); });
}

}  // namespace plume::cli
