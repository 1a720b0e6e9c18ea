// The scheduler's side of the ledger: opens <data dir>/ledger with the scheduler's key as the
// ledger key, appends the operator's signed entries from the inbox (ledger_inbox.h), and
// answers the core's ledger requests (reactor.h LedgerHook).
//
// What it does with each request:
//  - hold: appends the escrow hold the team signed when it submitted (the entry is
//    EscrowHoldEntry(); the signature travels in SubmitJob.escrowHoldSignature and is kept,
//    fsync'd, in <dir>/holds/<job>.sig until applied). A team without the balance, or a submit
//    without a valid signature, is refused with the reason and nothing is held. A hold the
//    ledger already has counts only if it is still open and of the same team and amount (the
//    database may have been restored under a ledger that went on).
//  - settle: appends the settle kept by KeepSettle for the task: the agent's ledger receipt
//    (ledger/receipt.h), rebuilt from the scheduler's own facts (FLOPs, price) and the agent's
//    fields, its agent signature checked, countersigned with the fee. The entry is kept in
//    <dir>/settles/<task hash>.entry (fsync'd) until applied, so a settle re-sent after a
//    restart appends the same entry (the ledger applies an id once and pays a (job, task) once).
//    A request whose file is gone is applied only if the ledger has the entry; otherwise it is
//    refused loudly (the provider is not paid), never taken as paid.
//  - release: appends the release (ledger key) of what the hold has left to the team.
//  - checkpoint: appends what a training round produced (ledger/lineage.h), signed by the
//    ledger key; the fact comes as text in the request (checkpoint_memo.h).
// It also answers the ledger messages of the protocol (LedgerQuery, LedgerSubmit, LedgerMint;
// Answer below, in ledger_bridge_wire.cc and ledger_bridge_submit.cc) for the reactor's
// ledger_service hook, and tells the reactor whose stake an append changed (TakeStakeChanges).
// docs/payments.md lists the protocol additions that turn these into real entries.
//
// Thread safety: Apply and DrainInbox may run on different threads (Ledger serialises).
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "plume/data/publish_limit.h"
#include "plume/ledger/ledger.h"
#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/message.h"
#include "plume/scheduler/ledger_inbox.h"
#include "plume/scheduler/types.h"

namespace plume::scheduler {

// The job id the scheduler gives a submit: "job-" + 16 hex of BLAKE2b(owner hex "/" key).
std::string JobIdFor(const std::string& owner_hex, const std::string& client_job_key);
// The escrow hold entry of a job (id "hold:<job>"), without signatures: what the team signs
// when it submits and what the scheduler appends.
ledger::Entry EscrowHoldEntry(const std::string& job, const PublicKey& team,
                              int64_t amount_micro_plume);

class LedgerBridge {
 public:
  // Opens (creating) `dir` as the writer. The scheduler's identity signs heads, releases and
  // countersignatures; `operator_key` is the only key that may mint. With a non-zero
  // `inbox_poll`, a background thread drains the inbox at that period until destruction.
  static Result<std::unique_ptr<LedgerBridge>> Open(
      const std::filesystem::path& dir, const Identity& scheduler, const PublicKey& operator_key,
      std::chrono::milliseconds inbox_poll = std::chrono::milliseconds(200));
  ~LedgerBridge();

  // The LedgerHook: true when applied, false with `refusal` set when refused, an Error when
  // the ledger cannot be written now.
  Result<bool> Apply(const LedgerOp& op, std::string& refusal);
  // Keeps the team's signature of EscrowHoldEntry(job, ...) for the job's hold request (a
  // file, so a hold re-sent after a restart still has it).
  Status RememberHoldSignature(const std::string& job, const Signature& signature);
  // Checks the agent's ledger signature over the receipt rebuilt from `receipt` and keeps the
  // countersigned settle entry for the task's settle request, durably (file and directory
  // fsync'd) before it returns true. false: the receipt is missing or does not verify (logged);
  // that task pays nothing. An Error: the entry could not be kept (disk full, I/O error); the
  // caller must not accept the result, so the agent sends it again.
  Result<bool> KeepSettle(const SettleReceipt& receipt);
  // Appends what the inbox holds (operator mints); call it periodically.
  Result<DrainResult> DrainInbox();

  // The ledger messages (docs/protocol.md "Ledger"). Answers a LedgerQuery or LedgerMint body
  // into `reply`: a LedgerReply, or an Error body that says what was wrong. `account` is the
  // account a balance or history query is about, as the reactor resolved it after its access
  // check ("*": every entry). `may_read` says whose history the asker may read: an inclusion
  // proof is answered only for an entry that touches such an account (as ledger::Touches), so
  // proofs are no way around the history rule; nullptr: every account (tests, the operator).
  // Never throws; bad input becomes an Error reply.
  void Answer(wire::Envelope::Body::Reader request, const std::string& account,
              wire::Envelope::Body::Builder reply,
              const std::function<bool(const std::string& account)>& may_read = nullptr);
  // Appends an entry a client signed (LedgerSubmit): a mint (operator key), transfer (the from
  // account's owner), stake (the agent) or unstake (the agent; its release time must lie in
  // [now + unbonding, now + unbonding + kUnstakeSkewMs], and this side adds the ledger key's
  // signature). Any other type is kInvalid with `why` saying so. The entry is authorised (shape,
  // signatures) and its debit checked before anything is written, so a refused submit opens no
  // account; the team:/provider: account it credits is opened first when needed (as the inbox
  // does for mints). kOk and kIdExists carry the entry's index; other codes are the ledger's
  // refusal, with `why` adding what the client can do. An Error is an I/O failure.
  Result<ledger::ApplyResult> AppendSubmitted(ledger::Entry entry, std::string& why);
  // AppendSubmitted for a mint only (LedgerMint; tests).
  Result<ledger::ApplyResult> AppendMint(const ledger::Entry& mint);

  // Opens the team:/provider: account `account` (ledger key) unless it is open or not ownable:
  // what a credit to a key the ledger has not seen yet (a grantee, a provider) needs first.
  Status OpenIfNeeded(const std::string& account);
  // The operator's bound on dataset publishes (--data-publishes-per-key-max,
  // --data-publish-min-balance-micro-plume): AppendSubmitted refuses a new publish past it.
  void set_publish_limits(const data::PublishLimits& limits) { publish_limits_ = limits; }
  // The unbonding period (--unbonding-ms) an unstake's release time must respect.
  void set_unbonding_ms(int64_t ms) { unbonding_ms_ = ms; }
  int64_t unbonding_ms() const { return unbonding_ms_; }
  // The clock of release times and withdrawals (unix ms); tests set their own.
  void set_clock(std::function<uint64_t()> now_unix_ms) { now_unix_ms_ = std::move(now_unix_ms); }
  uint64_t NowUnixMs() const { return now_unix_ms_(); }

  // A provider's stake as the ledger has it: stake:<key> and unbond:<key> (0 when not open).
  struct Stake {
    int64_t staked = 0;
    int64_t unbonding = 0;
  };
  Stake StakeOf(const PublicKey& agent) const;
  // Agents (hex keys) whose stake:/unbond: balance an append changed since the last call, by any
  // path (submits, slashes, withdrawals, the inbox). Thread-safe.
  std::vector<std::string> TakeStakeChanges();
  // Withdraws every agent's matured unbonding tranches to its provider account (kWithdraw,
  // ledger key); the reactor calls it on its tick. How many withdrawals were appended; an
  // Error is an I/O failure (retried at the next tick).
  Result<size_t> WithdrawMatured();

  ledger::Ledger& ledger() { return *ledger_; }
  // The history index's extent (tests, and what an operator's memory estimate rests on): entries
  // indexed, accounts, entry numbers kept, the most kept for one account. Reactor thread only.
  struct HistoryIndexSize {
    uint64_t entries_indexed = 0;
    uint64_t accounts = 0;
    uint64_t indexes = 0;
    uint64_t longest = 0;
  };
  HistoryIndexSize history_index_size() const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  Result<bool> Hold(const LedgerOp& op, std::string& refusal);
  Result<bool> Release(const LedgerOp& op, std::string& refusal);
  Result<bool> Checkpoint(const LedgerOp& op, std::string& refusal);  // ledger_bridge_lineage.cc
  // An audit's verdict and an unpaid faulty run's receipt (ledger_bridge_verdict.cc).
  Result<bool> Verdict(const LedgerOp& op, std::string& refusal);
  Result<bool> Receipt(const LedgerOp& op, std::string& refusal);
  // A proven fault's slash (ledger_bridge_stake.cc), and the faulty run's countersigned receipt
  // it carries (the kept settle, else the ledger's settle entry; nullopt: none).
  Result<bool> Slash(const LedgerOp& op, std::string& refusal);
  Result<std::optional<ledger::TaskReceipt>> FaultyReceipt(const LedgerOp& op);
  // Fills unbonding_agents_ from the ledger's balances (once, at open).
  void FindUnbonding();
  Result<bool> Settle(const LedgerOp& op, std::string& refusal);
  // A settle request whose kept entry is gone: applied only if the ledger has the entry.
  Result<bool> SettleWithoutFile(const LedgerOp& op, std::string& refusal);
  // For a hold the ledger already has: OK only when it is open, the team's, of op's amount.
  Status CheckHeldBefore(const LedgerOp& op, const std::string& team) const;
  // Extends history_index_ with the entries appended since it was last extended.
  Status IndexHistory();
  // Entries touching `account` (every entry when nullopt), oldest first, the newest `limit`
  // (at most kLedgerHistoryRowsMax), from history_index_ (ledger_bridge_wire.cc). Reactor thread
  // only.
  Result<std::vector<ledger::LoggedEntry>> HistoryOf(const std::optional<std::string>& account,
                                                     size_t limit);
  // Records the agent of every stake:/unbond: account `entry` moved money on (an applied entry).
  void NoteStakeChange(const ledger::Entry& entry);
  // Why a new dataset_publish is past publish_limits_; empty when it is within them.
  std::string PublishRefusal(const ledger::Entry& publish) const;
  // LedgerSubmit/LedgerMint bodies (ledger_bridge_submit.cc); `mint_only` for LedgerMint.
  void AnswerSubmit(capnp::Data::Reader bytes, bool mint_only, wire::Envelope::Body::Builder reply);
  explicit LedgerBridge(Identity identity);
  std::filesystem::path dir_;
  Identity identity_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::atomic<bool> stop_{false};
  std::thread poller_;
  // Account -> indexes of the newest kLedgerHistoryRowsMax entries touching it (as
  // ledger::Touches), for entries below history_indexed_. Built once by Open, before the reactor
  // runs, and extended at each history query by the entries appended since, so a query reads
  // only what it answers with and what is new. Touched by the reactor thread only after Open.
  std::unordered_map<std::string, std::deque<uint64_t>> history_index_;
  uint64_t history_indexed_ = 0;
  int64_t unbonding_ms_ = 0;
  data::PublishLimits publish_limits_;
  std::function<uint64_t()> now_unix_ms_;
  std::mutex stake_mu_;
  std::set<std::string> stake_changed_;  // agent hex keys; guarded by stake_mu_
  // Agents that may hold unbonding tranches (a superset); guarded by stake_mu_.
  std::set<std::string> unbonding_agents_;
};

// How far past now + unbonding an unstake's release time may lie: the client computes it from
// the scheduler's clock (stakeTerms) plus the time its request takes.
inline constexpr int64_t kUnstakeSkewMs = 60'000;

}  // namespace plume::scheduler
