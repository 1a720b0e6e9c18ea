// The scheduler's side of the ledger: opens <data dir>/ledger with the scheduler's key as the
// ledger key, appends the operator's signed entries from the inbox (ledger_inbox.h), and
// answers the core's ledger requests (reactor.h LedgerHook).
//
// What it does with each request today, and why:
//  - hold: refuses, with the team's balance and the amount in the reason, when the team's
//    account cannot cover the job's escrow; so a team without credits is refused and nothing
//    runs. It does not append the hold entry: the ledger requires the team's own signature on
//    an escrow hold (ledger/src/state.cc Authorize), and SubmitJob does not carry one yet.
//  - settle: not appended: the ledger pays only for a receipt the agent signed in the ledger's
//    form (ledger/receipt.h AgentSigningBytes); agents sign protocol/receipt.h bytes today.
//  - release: nothing was held, so nothing is released.
// docs/payments.md lists the protocol additions that turn these into real entries.
//
// Thread safety: Apply and DrainInbox may run on different threads (Ledger serialises).
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>

#include "plume/ledger/ledger.h"
#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"
#include "plume/scheduler/ledger_inbox.h"
#include "plume/scheduler/types.h"

namespace plume::scheduler {

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
  // Appends what the inbox holds (operator mints); call it periodically.
  Result<DrainResult> DrainInbox();

  ledger::Ledger& ledger() { return *ledger_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  explicit LedgerBridge(Identity identity) : identity_(std::move(identity)) {}
  std::filesystem::path dir_;
  Identity identity_;
  std::unique_ptr<ledger::Ledger> ledger_;
  std::atomic<bool> stop_{false};
  std::thread poller_;
};

}  // namespace plume::scheduler
