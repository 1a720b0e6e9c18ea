// The scheduler's shell: a single-threaded loop around the pure core. It receives protocol
// messages on a CURVE ROUTER socket (protocol/transport.h), turns them into core events, saves
// the core's changed rows in one SQLite transaction per loop turn, and only then acts: sends
// task assignments, cancels and replies, serves blobs under the access policy, runs the DiLoCo
// outer step for finished rounds, and passes ledger requests to the ledger hook.
//
// Threads: everything runs on the thread that calls RunOnce/Run; only stop flags cross threads.
#pragma once

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "plume/data/terms.h"
#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/transport.h"
#include "plume/scheduler/core.h"
#include "plume/scheduler/retention.h"
#include "plume/scheduler/store.h"

namespace plume::scheduler {

// Applies one ledger request. Returns true when applied (or already applied: ids repeat after
// a restart), false with a reason in `refusal` when refused (e.g. insufficient balance for a
// hold). An error means "not now" (the request stays in the outbox and is retried).
using LedgerHook = std::function<Result<bool>(const LedgerOp& op, std::string& refusal)>;
// Answers a ledger message (LedgerQuery or LedgerMint; docs/protocol.md "Ledger") into `reply`:
// a LedgerReply or an Error body. The reactor has already checked that the sender may ask it
// (reactor_ledger.cc); `account` is the account a balance or history query is about after the
// defaults ("*": every entry); `may_read` whether the sender may read an account's history
// (inclusion proofs are answered only for such entries). Runs on the reactor's thread. main.cc
// binds it to LedgerBridge.
using LedgerServiceHook = std::function<void(
    wire::Envelope::Body::Reader request, const std::string& account,
    wire::Envelope::Body::Builder reply,
    const std::function<bool(const std::string& account)>& may_read)>;

// A provider's stake as the ledger holds it (stake:<key>, unbond:<key>), for StakeChanged.
struct StakeView {
  MicroPlume staked = 0;
  MicroPlume unbonding = 0;
};

// A published dataset as the ledger has it (ledger/data_entries.h), for the submit check
// (reactor_data.cc).
struct DatasetView {
  data::Terms terms;
  bool revoked = false;
};

struct ReactorOptions {
  std::string endpoint = "tcp://127.0.0.1:0";
  std::filesystem::path state_dir;  // holds scheduler.db, blobs/ and momentum/
  Sync sync = Sync::kFull;
  std::optional<std::vector<PublicKey>> agent_allow_list;
  Config core;
  std::chrono::milliseconds tick{100};
  uint32_t events_per_turn_max = 512;
  LedgerHook ledger;  // nullptr: every request counts as applied (no ledger configured)
  // Called for each accepted submit with the team's signature of the job's escrow hold entry
  // (SubmitJob.escrowHoldSignature; empty when absent), before the hold request is made. It
  // must keep it durably; an error refuses the submit (retryLater) so nothing unkept is acked.
  std::function<Status(const std::string& job, std::span<const uint8_t> signature)>
      escrow_signature;
  // Called for a verified result just before the core records it, with what the ledger needs to
  // pay for it (types.h SettleReceipt); it keeps the settle durably for "settle:<task>". true:
  // kept; false: not payable (no verified ledger receipt), the result is used unpaid; an error:
  // not kept, so the result is refused with retryLater and the agent sends it again.
  std::function<Result<bool>(const SettleReceipt& receipt)> settle_receipt;
  // Answers LedgerQuery and LedgerMint; nullptr: they are refused (no ledger on this scheduler).
  LedgerServiceHook ledger_service;
  // The operator's key (--operator-id): may read the history of every account.
  std::optional<PublicKey> ledger_operator;
  // The ledger's id (ledger/log.h LedgerIdOf), told to agents (RegisterAck) and submitters
  // (QuoteReply) so that their receipts and holds are signed for this ledger and no other.
  std::optional<Hash256> ledger_id;
  // Blob bytes one key may upload per 24 h (0: no limit). An agent uploading while it holds an
  // assigned task (its results) is not counted.
  uint64_t upload_quota_bytes_per_day = 256ULL << 30;
  // Blob retention (retention.h): what the sweep keeps, and how often it runs (0: never).
  RetentionPolicy retention;
  int64_t retention_sweep_ms = kRetentionSweepMsDefault;
  // Blobs the ledger keeps whatever the jobs (published datasets not revoked); nullptr: none.
  std::function<std::vector<BlobHash>()> ledger_kept_blobs;
  // Stake (reactor_stake.cc; main.cc binds these to the LedgerBridge). stake_of: a node's stake,
  // told to the core when it registers; stake_changes: the nodes whose stake a ledger append
  // changed since the last call, polled every turn; ledger_tick: the ledger side's periodic
  // work (withdrawing matured unbonding stake), on the reactor's tick. nullptr: no ledger, no
  // stake (every node's stays 0, which only a minimum stake of 0 places).
  std::function<StakeView(const NodeId& node)> stake_of;
  std::function<std::vector<NodeId>()> stake_changes;
  std::function<void()> ledger_tick;
  // Governance (gov_driver.h; main.cc binds these). gov_service answers GovRequest; gov_tick
  // runs on the tick and returns the network's parameters when an adopted change was executed
  // (fed to the core as ParamsChanged). nullptr: no governance (GovRequest is refused).
  std::function<void(wire::Envelope::Body::Reader request, wire::Envelope::Body::Builder reply)>
      gov_service;
  std::function<std::optional<ParamsChanged>()> gov_tick;
  // The ledger's record of a dataset a job names ("dataset:<id>" blob refs); nullptr or nullopt:
  // no such dataset, and a job naming it is refused.
  std::function<std::optional<DatasetView>(const std::string& dataset)> dataset_of;
  // Told the latency of each state commit (SQLite transaction), for the metrics; optional.
  std::function<void(std::chrono::duration<double> seconds)> on_commit;
  // Called on the worker thread before each piece of heavy work (initial parameters, joining
  // outputs, the outer step) runs off the reactor thread; tests hold it to show the reactor
  // keeps answering meanwhile. Optional.
  std::function<void()> before_offloaded_work;
};

struct ReactorStats {
  TransportStats transport;
  uint64_t blob_bytes_in = 0;   // blob chunks received (uploads)
  uint64_t blob_bytes_out = 0;  // blob chunks served (downloads)
  uint64_t results_screened = 0;  // results of current attempts screened (verify/screen.h)
  std::map<std::string, uint64_t> results_refused;  // of those, refused, by reason code
};

class Reactor {
 public:
  // Opens (or creates) the state directory, loads and recovers the state, binds the socket.
  // Refuses Sync::kNormal with a ledger: an acknowledged commit lost to a power cut while the
  // ledger (fdatasync'd) keeps its settle would pay one provider for a result the scheduler
  // forgot and refuse the next one's settle as a conflict.
  static Result<std::unique_ptr<Reactor>> Start(const Identity& identity, ReactorOptions options);
  ~Reactor();

  const std::string& endpoint() const;
  // One loop turn: waits up to `wait` for messages, handles what arrived (and a due tick),
  // persists, then acts. An error means the database could not be written: stop and restart.
  Status RunOnce(std::chrono::milliseconds wait);
  // Turns until `stop` becomes true or a turn fails.
  Status Run(const std::atomic<bool>& stop);
  const Core& core() const;
  // Cumulative transport and blob counters, for the metrics layer (scheduler/metrics.h).
  ReactorStats stats() const;

 private:
  struct Impl;
  explicit Reactor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace plume::scheduler
