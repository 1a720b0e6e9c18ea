// The scheduler's answers to the ledger messages (ledger_bridge.h Answer; docs/protocol.md
// "Ledger"): balances, history, inclusion and consistency proofs, the signed head and the stake
// terms; submitted entries go on to ledger_bridge_submit.cc. The reactor (reactor_ledger.cc) has decided who may ask what before a
// request gets here; this file turns ledger reads into LedgerReply bodies and ledger refusals
// into Error replies. Every reply carries the latest signed head, so a client can check what
// it got against the ledger key it trusts.
//
// Data flow: plume (cmd_ledger_net.cc, cmd_stake.cc) -> Reactor::Impl::OnLedgerQuery/
// OnLedgerSubmit -> LedgerBridge::Answer -> ledger::Ledger reads / LedgerBridge::AppendSubmitted
// -> LedgerReply.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <span>

#include "plume/ledger/data_entries.h"
#include "plume/ledger/query.h"
#include "plume/protocol/limits.h"
#include "plume/scheduler/ledger_bridge.h"
#include "plume/scheduler/ledger_wire.h"

namespace plume::scheduler {
namespace {

using Body = wire::Envelope::Body;
using HistoryFn = std::function<Result<std::vector<ledger::LoggedEntry>>(
    const std::optional<std::string>& account, size_t limit)>;

void SetError(Body::Builder reply, wire::ErrorCode code, const std::string& why) {
  auto e = reply.initError();
  e.setCode(code);
  e.setMessage(why);
}

// Account names come from the network: check them before they reach the ledger's maps.
bool CheckAccount(const std::string& account, Body::Builder reply) {
  const std::string why = ledger::AccountNameProblem(account);
  if (why.empty()) return true;
  SetError(reply, wire::ErrorCode::BAD_MESSAGE, why.substr(0, 300));
  return false;
}

void AnswerBalance(const ledger::Ledger& l, const std::string& account, Body::Builder reply) {
  if (!CheckAccount(account, reply)) return;
  auto r = reply.initLedgerReply();
  WriteHead(l.Head(), l.keys().ledger_id, r.initHead());
  auto b = r.initBalance();
  b.setAccount(account);
  const auto balance = l.Balance(account);
  b.setOpen(balance.has_value());
  b.setBalanceMicroPlume(balance ? balance->value() : 0);
  if (account.starts_with("escrow:")) {
    if (auto hold = l.Hold(account.substr(7))) {
      b.setHasHold(true);
      WriteHold(*hold, b.initHold());
    }
  }
  if (account.starts_with("unbond:")) {
    const std::vector<ledger::Tranche> tranches = l.Unbonding(*ledger::AccountKey(account));
    auto out = b.initTranches(static_cast<unsigned>(
        std::min<size_t>(tranches.size(), limits::kLedgerHistoryRowsMax)));
    for (unsigned i = 0; i < out.size(); ++i) {
      out[i].setEntryId(tranches[i].entry_id);
      out[i].setAmountMicroPlume(tranches[i].amount.value());
      out[i].setReleaseAtMs(tranches[i].release_at_ms);
    }
  }
}

void AnswerHistory(const ledger::Ledger& l, const HistoryFn& history, const std::string& account,
                   uint32_t limit, Body::Builder reply) {
  std::optional<std::string> filter;
  if (account != "*") {
    if (!CheckAccount(account, reply)) return;
    filter = account;
  }
  if (limit == 0 || limit > limits::kLedgerHistoryRowsMax) limit = limits::kLedgerHistoryRowsMax;
  const ledger::SignedTreeHead head = l.Head();
  auto entries = history(filter, limit);
  if (!entries) {
    SetError(reply, wire::ErrorCode::INTERNAL, "reading the ledger: " + entries.error().message);
    return;
  }
  // Newest first until the byte bound, so the reply keeps the most recent entries.
  std::vector<std::vector<uint8_t>> encoded(entries->size());
  size_t first = entries->size(), bytes = 0;
  while (first > 0) {
    std::vector<uint8_t> e = ledger::Encode((*entries)[first - 1].entry);
    if (bytes + e.size() + 64 > limits::kLedgerHistoryBytesMax) break;
    bytes += e.size() + 64;  // index, prev hash and list overhead
    encoded[--first] = std::move(e);
  }
  auto r = reply.initLedgerReply();
  WriteHead(head, l.keys().ledger_id, r.initHead());
  auto h = r.initHistory();
  h.setAccount(account);
  h.setTruncated(first > 0);
  auto list = h.initEntries(static_cast<unsigned>(entries->size() - first));
  for (size_t i = first; i < entries->size(); ++i) {
    auto out = list[static_cast<unsigned>(i - first)];
    out.setIndex((*entries)[i].index);
    out.setPrevHash(AsData((*entries)[i].prev_hash));
    out.setEntry(AsData(encoded[i]));
  }
}

using MayRead = std::function<bool(const std::string& account)>;

void AnswerInclusion(const ledger::Ledger& l, wire::LedgerQuery::Inclusion::Reader q,
                     const MayRead& may_read, Body::Builder reply) {
  const std::string id = q.getEntryId();
  std::optional<uint64_t> index =
      id.empty() ? std::optional<uint64_t>(q.getIndex()) : l.IndexOf(id);
  const uint64_t size = l.size();
  if (!index || *index >= size) {
    const std::string what = id.empty() ? "#" + std::to_string(q.getIndex()) : "'" + id + "'";
    SetError(reply, wire::ErrorCode::NOT_FOUND,
             "no entry " + what.substr(0, 100) + " in the ledger (" + std::to_string(size) +
                 " entries): give an entry id or an index below that");
    return;
  }
  auto bundle = l.ProveInclusion(*index);
  if (!bundle) {
    SetError(reply, wire::ErrorCode::INTERNAL, "building the proof: " + bundle.error().message);
    return;
  }
  // Entries of other teams and providers (their receipts name their blobs) stay theirs.
  const ledger::Entry& e = bundle->logged.entry;
  const std::vector<std::string> touched = ledger::TouchedAccounts(e);
  if (may_read && !ledger::IsPublicEntry(e) &&
      std::none_of(touched.begin(), touched.end(), may_read)) {
    SetError(reply, wire::ErrorCode::UNAUTHORIZED,
             "entry #" + std::to_string(*index) +
                 " does not touch an account whose history you may read: proofs are answered "
                 "for entries of your own accounts and jobs");
    return;
  }
  auto r = reply.initLedgerReply();
  WriteHead(bundle->head, l.keys().ledger_id, r.initHead());  // the head the path leads to
  auto inc = r.initInclusion();
  WriteEntry(bundle->logged, inc.initEntry());
  WriteHashes(bundle->path, inc.initPath(static_cast<unsigned>(bundle->path.size())));
}

void AnswerConsistency(const ledger::Ledger& l, wire::LedgerQuery::Consistency::Reader q,
                       Body::Builder reply) {
  const ledger::SignedTreeHead head = l.Head();
  const uint64_t old_size = q.getOldSize();
  const uint64_t new_size = q.getNewSize() == 0 ? head.tree_size : q.getNewSize();
  if (old_size > new_size || new_size > head.tree_size) {
    SetError(reply, wire::ErrorCode::BAD_MESSAGE,
             "a consistency proof needs oldSize <= newSize <= " + std::to_string(head.tree_size) +
                 " (the latest head), got " + std::to_string(old_size) + " and " +
                 std::to_string(new_size));
    return;
  }
  auto proof = l.ConsistencyProof(old_size, new_size);
  auto old_root = l.RootAt(old_size);
  auto new_root = l.RootAt(new_size);
  if (!proof || !old_root || !new_root) {
    SetError(reply, wire::ErrorCode::INTERNAL, "building the consistency proof failed");
    return;
  }
  auto r = reply.initLedgerReply();
  WriteHead(head, l.keys().ledger_id, r.initHead());
  auto c = r.initConsistency();
  c.setOldSize(old_size);
  c.setNewSize(new_size);
  WriteHashes(*proof, c.initProof(static_cast<unsigned>(proof->size())));
  c.setOldRoot(AsData(*old_root));
  c.setNewRoot(AsData(*new_root));
}

void AnswerQuery(const ledger::Ledger& l, const HistoryFn& history, wire::LedgerQuery::Reader q,
                 const std::string& account, const MayRead& may_read, Body::Builder reply) {
  switch (q.which()) {
    case wire::LedgerQuery::BALANCE:
      return AnswerBalance(l, account, reply);
    case wire::LedgerQuery::HISTORY:
      return AnswerHistory(l, history, account, q.getHistory().getLimit(), reply);
    case wire::LedgerQuery::INCLUSION:
      return AnswerInclusion(l, q.getInclusion(), may_read, reply);
    case wire::LedgerQuery::HEAD: {
      auto r = reply.initLedgerReply();
      WriteHead(l.Head(), l.keys().ledger_id, r.initHead());
      r.setHeadOnly();
      return;
    }
    case wire::LedgerQuery::CONSISTENCY:
      return AnswerConsistency(l, q.getConsistency(), reply);
    case wire::LedgerQuery::STAKE_TERMS:
      break;  // LedgerBridge::Answer: it needs the bridge's settings
  }
  SetError(reply, wire::ErrorCode::BAD_MESSAGE, "unknown ledger query");
}

}  // namespace

Status LedgerBridge::IndexHistory() {
  // The accounts of ledger::Touches. Only the newest kLedgerHistoryRowsMax indexes of an account
  // are kept: a history reply never returns more, so older ones would only cost memory.
  return ledger_->ForEachEntry(history_indexed_, [this](const ledger::LoggedEntry& e) {
    for (const std::string& a : ledger::TouchedAccounts(e.entry)) {
      std::deque<uint64_t>& at = history_index_[a];
      if (!at.empty() && at.back() == e.index) continue;
      at.push_back(e.index);
      if (at.size() > limits::kLedgerHistoryRowsMax) at.pop_front();
    }
    history_indexed_ = e.index + 1;
    return true;
  });
}

Result<std::vector<ledger::LoggedEntry>> LedgerBridge::HistoryOf(
    const std::optional<std::string>& account, size_t limit) {
  // Open indexed the log; catch up with whatever was appended since, by any path (inbox, holds,
  // settles, releases, submits, slashes, withdrawals): each entry is read here once.
  if (auto st = IndexHistory(); !st) return tl::unexpected(st.error());
  std::vector<uint64_t> picks;
  if (!account) {
    const uint64_t n = history_indexed_;
    for (uint64_t i = n - std::min<uint64_t>(limit, n); i < n; ++i) picks.push_back(i);
  } else if (auto it = history_index_.find(*account); it != history_index_.end()) {
    const std::deque<uint64_t>& all = it->second;
    picks.assign(all.end() - static_cast<std::ptrdiff_t>(std::min(limit, all.size())), all.end());
  }
  std::vector<ledger::LoggedEntry> out;
  out.reserve(picks.size());
  for (uint64_t i : picks) {
    auto e = ledger_->ReadEntry(i);
    if (!e) return tl::unexpected(e.error());
    out.push_back(std::move(*e));
  }
  return out;
}

LedgerBridge::HistoryIndexSize LedgerBridge::history_index_size() const {
  HistoryIndexSize size{history_indexed_, history_index_.size(), 0, 0};
  for (const auto& [account, at] : history_index_) {
    size.indexes += at.size();
    size.longest = std::max<uint64_t>(size.longest, at.size());
  }
  return size;
}

void LedgerBridge::Answer(wire::Envelope::Body::Reader request, const std::string& account,
                          wire::Envelope::Body::Builder reply,
                          const std::function<bool(const std::string& account)>& may_read) {
  if (request.which() == wire::Envelope::Body::LEDGER_QUERY &&
      request.getLedgerQuery().which() == wire::LedgerQuery::STAKE_TERMS) {
    // The reactor adds the core's side (minimum stake, challenge window).
    auto r = reply.initLedgerReply();
    WriteHead(ledger_->Head(), ledger_->keys().ledger_id, r.initHead());
    auto t = r.initStakeTerms();
    t.setNowUnixMs(NowUnixMs());
    t.setUnbondingMs(static_cast<uint64_t>(std::max<int64_t>(0, unbonding_ms_)));
    t.setUnstakeSkewMs(static_cast<uint64_t>(kUnstakeSkewMs));
    return;
  }
  if (request.which() == wire::Envelope::Body::LEDGER_QUERY) {
    HistoryFn history = [this](const std::optional<std::string>& a, size_t limit) {
      return HistoryOf(a, limit);
    };
    return AnswerQuery(*ledger_, history, request.getLedgerQuery(), account, may_read, reply);
  }
  if (request.which() == wire::Envelope::Body::LEDGER_SUBMIT) {
    return AnswerSubmit(request.getLedgerSubmit().getEntry(), false, reply);
  }
  if (request.which() == wire::Envelope::Body::LEDGER_MINT) {
    return AnswerSubmit(request.getLedgerMint().getEntry(), true, reply);
  }
  SetError(reply, wire::ErrorCode::UNEXPECTED, "not a ledger message");
}

}  // namespace plume::scheduler
