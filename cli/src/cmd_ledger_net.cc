// The ledger commands through the scheduler (cmd_ledger.cc says when this path is taken;
// docs/protocol.md "Ledger" has the messages). Balances are the scheduler's word. Everything a
// proof can cover is checked here rather than believed: entries arrive as canonical bytes and
// their leaf hashes are recomputed on this side (ledger_wire.h), inclusion and consistency
// proofs are checked against a tree head whose signature is checked against the ledger key
// this side trusts: --ledger-id, else the scheduler id the connection pins (the scheduler's key
// is the ledger key, ledger_bridge.h).
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cmd_net.h"
#include "commands.h"
#include "ledger_cli.h"
#include "ledger_net.h"
#include "plume/ledger/merkle.h"
#include "plume/ledger/query.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/limits.h"
#include "plume/scheduler/ledger_wire.h"

namespace plume::cli {
namespace {

using nlohmann::json;
using scheduler::ReadEntry;
using scheduler::ReadHashes;
using scheduler::ReadHead;

template <class T>
T OrFail(Result<T> r, const std::string& what) {
  if (!r) FailWith({kExitFailure, "the scheduler sent " + what + ": " + r.error().message});
  return std::move(*r);
}

bool AllDigits(const std::string& s) {
  return !s.empty() && s.size() < 20 && s.find_first_not_of("0123456789") == std::string::npos;
}

}  // namespace

Connection ConnectLedger(const LedgerFlags& flags) {
  auto resolved =
      ResolveNetFlags(NetFlags{flags.scheduler, flags.scheduler_id, flags.key, flags.json});
  if (!resolved) FailWith(resolved.error());
  Connection c;
  c.client = ConnectOrFail(*resolved);
  c.scheduler_id = ParseKeyOrFail(resolved->scheduler_id, "--scheduler-id");
  return c;
}

PublicKey TrustedKey(const Connection& c, const std::string& ledger_id) {
  return ledger_id.empty() ? c.scheduler_id : ParseKeyOrFail(ledger_id, "--ledger-id");
}

Message LedgerCall(NetClient& client, const MessageBuilder& request,
                   wire::LedgerReply::Which want) {
  auto reply = client.Call(request);
  if (!reply) FailWith(reply.error());
  if (reply->kind() != MessageKind::LEDGER_REPLY ||
      reply->body().getLedgerReply().which() != want) {
    FailWith({kExitFailure, "the scheduler sent a " + std::string(KindName(reply->kind())) +
                                " that is not the ledger reply asked for"});
  }
  return std::move(*reply);
}

ledger::LedgerId AskLedgerId(NetClient& client) {
  auto ask = client.NewRequest();
  ask.body().initLedgerQuery().setHead();
  Message head = LedgerCall(client, ask, wire::LedgerReply::HEAD_ONLY);
  const auto id = head.body().getLedgerReply().getHead().getLedgerId();
  ledger::LedgerId ledger_id{};
  if (id.size() != ledger_id.size()) {
    Fail(kExitFailure, "the scheduler did not name its ledger's id (a build before ledger ids?)");
  }
  std::copy(id.begin(), id.end(), ledger_id.begin());
  return ledger_id;
}

Applied SubmitSigned(NetClient& client, const ledger::Entry& entry) {
  auto req = client.NewRequest();
  const std::vector<uint8_t> bytes = ledger::Encode(entry);
  req.body().initLedgerSubmit().setEntry(AsData(bytes));
  Message reply = LedgerCall(client, req, wire::LedgerReply::APPLIED);
  auto a = reply.body().getLedgerReply().getApplied();
  return Applied{a.getEntryId().cStr(), a.getIndex(), a.getRepeated()};
}

void HistoryOverNet(const LedgerFlags& flags, const std::string& account, size_t limit) {
  Connection c = ConnectLedger(flags);
  auto req = c.client->NewRequest();
  auto h = req.body().initLedgerQuery().initHistory();
  h.setAccount(account);
  h.setLimit(static_cast<uint32_t>(std::min<size_t>(limit, limits::kLedgerHistoryRowsMax)));
  Message reply = LedgerCall(*c.client, req, wire::LedgerReply::HISTORY);
  auto got = reply.body().getLedgerReply().getHistory();
  std::vector<ledger::LoggedEntry> entries;
  for (auto e : got.getEntries()) entries.push_back(OrFail(ReadEntry(e), "an unreadable entry"));
  if (got.getTruncated()) {
    std::cerr << "plume: older entries of " << got.getAccount().cStr()
              << " were left out to keep the reply under its size bound; pass a smaller --limit "
                 "or read the ledger directory\n";
  }
  PrintHistory(entries, flags.json);
}

void ProveOverNet(const LedgerFlags& flags, const std::string& entry,
                  const std::string& ledger_id) {
  Connection c = ConnectLedger(flags);
  const PublicKey trusted = TrustedKey(c, ledger_id);
  auto req = c.client->NewRequest();
  auto q = req.body().initLedgerQuery().initInclusion();
  const bool by_index = AllDigits(entry);
  if (by_index) {
    q.setIndex(std::stoull(entry));
  } else {
    q.setEntryId(entry);
  }
  Message reply = LedgerCall(*c.client, req, wire::LedgerReply::INCLUSION);
  auto r = reply.body().getLedgerReply();
  ledger::InclusionBundle bundle;
  bundle.logged = OrFail(ReadEntry(r.getInclusion().getEntry()), "an unreadable entry");
  bundle.path = OrFail(ReadHashes(r.getInclusion().getPath()), "a malformed proof");
  bundle.head = OrFail(ReadHead(r.getHead()), "a malformed tree head");
  // A proof of some other entry proves nothing about the one asked for.
  const bool asked =
      by_index ? bundle.logged.index == std::stoull(entry) : bundle.logged.entry.id == entry;
  const bool signed_ok = ledger::VerifyHead(bundle.head, trusted);
  const bool ok = asked && ledger::CheckInclusion(bundle, trusted);
  PrintProof(bundle, trusted, ok,
             ledger_id.empty() ? " (the scheduler id this connection pins; --ledger-id to pin "
                                 "another)"
                               : "",
             flags.json);
  if (ok) return;
  if (!asked) {
    Fail(kExitFailure, "the scheduler proved entry #" + std::to_string(bundle.logged.index) + " (" +
                           bundle.logged.entry.id + "), not " + entry);
  }
  Fail(kExitFailure, signed_ok ? "the path does not lead from the entry to the signed root"
                               : "the tree head is not signed by the ledger key " + ToHex(trusted) +
                                     " (wrong --ledger-id, or not that ledger)");
}

void MintOverNet(const LedgerFlags& flags, ledger::Entry mint, const Identity& op) {
  Connection c = ConnectLedger(flags);
  mint.signatures.push_back(ledger::SignEntry(mint, AskLedgerId(*c.client), op));
  const Applied m = SubmitSigned(*c.client, mint);
  if (flags.json) {
    std::cout << json{{"id", m.id},
                      {"index", m.index},
                      {"repeated", m.repeated},
                      {"to", mint.to},
                      {"amount_micro_plume", mint.amount.value()}}
                     .dump()
              << "\n";
    return;
  }
  std::cout << (m.repeated ? "already applied " : "applied ") << m.id << " as entry #" << m.index
            << ": mint " << ledger::FormatPlume(mint.amount) << " to " << mint.to << "\n";
}

void HeadOverNet(const LedgerFlags& flags, const std::string& ledger_id, const std::string& since) {
  uint64_t old_size = 0;
  Hash256 old_root{};
  if (!since.empty()) {
    const size_t colon = since.find(':');
    auto root = colon == std::string::npos ? Result<Hash256>(plume::Fail("no colon"))
                                           : HashFromHex(since.substr(colon + 1));
    if (!root || !AllDigits(since.substr(0, colon))) {
      Fail(kExitBadInput,
           "--since must be SIZE:ROOT (a tree size and its 64-hex-digit root, as "
           "`plume ledger head` printed them)");
    }
    old_size = std::stoull(since.substr(0, colon));
    old_root = *root;
  }
  Connection c = ConnectLedger(flags);
  const PublicKey trusted = TrustedKey(c, ledger_id);
  auto req = c.client->NewRequest();
  if (since.empty()) {
    req.body().initLedgerQuery().setHead();
  } else {
    req.body().initLedgerQuery().initConsistency().setOldSize(old_size);
  }
  Message reply =
      LedgerCall(*c.client, req,
                 since.empty() ? wire::LedgerReply::HEAD_ONLY : wire::LedgerReply::CONSISTENCY);
  auto r = reply.body().getLedgerReply();
  const ledger::SignedTreeHead head = OrFail(ReadHead(r.getHead()), "a malformed tree head");
  const bool signed_ok = ledger::VerifyHead(head, trusted);
  bool grew = true;
  if (!since.empty()) {
    auto proof = OrFail(ReadHashes(r.getConsistency().getProof()), "a malformed proof");
    grew = r.getConsistency().getNewSize() == head.tree_size &&
           ledger::VerifyConsistency(old_size, head.tree_size, old_root, head.root, proof);
  }
  const bool ok = signed_ok && grew;
  if (flags.json) {
    json j{{"ok", ok},
           {"tree_size", head.tree_size},
           {"root", ToHex(head.root)},
           {"timestamp_unix_ms", head.timestamp_unix_ms},
           {"signature", ToHex(head.signature)},
           {"ledger_key", ToHex(trusted)}};
    if (!since.empty()) j["consistent_with"] = {{"tree_size", old_size}, {"ok", grew}};
    std::cout << j.dump() << "\n";
  } else {
    std::cout << "tree head " << head.tree_size << ":" << ToHex(head.root) << " at "
              << head.timestamp_unix_ms << " ms\n"
              << "  signed by " << ToHex(trusted) << (signed_ok ? "" : ": NOT by this key") << "\n";
    if (!since.empty()) {
      std::cout << "  " << (grew ? "extends" : "does NOT extend") << " the head " << old_size << ":"
                << ToHex(old_root) << "\n";
    }
    std::cout << (ok ? "VERIFIED" : "FAILED") << "\n";
  }
  if (!ok) throw CommandFailed(kExitFailure);
}

}  // namespace plume::cli
