// The ledger: a directory holding ledger.log (log.h), opened by one writer (the scheduler, in
// process) or by any number of read-only readers (CLI). Append() checks each entry against the
// rules (state.h), writes the accepted ones plus a signed tree head in one group commit (one
// write, one fdatasync) and only then answers. Open() replays the log, cuts a torn tail and
// refuses a log whose committed part is damaged.
//
// Data flow: scheduler -> Ledger::Append -> State::Apply -> LogWriter::WriteAndSync.
//
// Thread safety: all methods may be called from any thread; they serialise on one mutex.
// Append runs signature checks of a batch on up to Options::verify_threads threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "plume/ledger/entry.h"
#include "plume/ledger/head.h"
#include "plume/ledger/log.h"
#include "plume/ledger/merkle.h"
#include "plume/ledger/state.h"
#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"

namespace plume::ledger {

struct LedgerOptions {
  // Threads for signature checks in Append; 0 = hardware concurrency (at most 16).
  unsigned verify_threads = 0;
  // Run State::CheckInvariants() (O(accounts)) after every Append.
  bool check_invariants = true;
  // Write a snapshot (snapshot.h) after an Append once this many entries came since the last
  // one, so Open replays only the log after it. 0: never.
  uint64_t snapshot_every_entries = 100'000;
  // Clock for tree head timestamps; defaults to the system clock.
  std::function<uint64_t()> now_unix_ms;
  // The header nonce of a ledger this Open creates (log.h); random when unset. Tests fix it to
  // know the ledger id, and so sign entries, before the ledger exists.
  std::optional<Hash256> genesis_nonce;
};

// One entry as it sits in the log.
struct LoggedEntry {
  uint64_t index = 0;
  Hash256 prev_hash{};
  Hash256 leaf_hash{};  // Merkle leaf hash; also the next entry's prev_hash
  Entry entry;
};

// Everything a client needs to check that an entry is in the ledger (see CheckInclusion).
struct InclusionBundle {
  LoggedEntry logged;
  std::vector<Hash256> path;
  SignedTreeHead head;
};

class Ledger {
 public:
  // Opens (creating if absent) the ledger in `dir` for appending. `ledger_key` signs tree heads
  // and is the scheduler's key for countersignatures and releases; `operator_key` mints. An
  // existing ledger must have been created with the same two keys. Takes an exclusive lock
  // on dir/LOCK, so a second writer gets an error.
  static Result<std::unique_ptr<Ledger>> Open(const std::filesystem::path& dir,
                                              const Identity& ledger_key,
                                              const PublicKey& operator_key,
                                              LedgerOptions options = {});
  // Opens for reading only: replays the committed log (up to its last signed head), cuts
  // nothing, and refuses Append. Keys come from the log header.
  static Result<std::unique_ptr<Ledger>> OpenReadOnly(const std::filesystem::path& dir);
  ~Ledger();

  // Applies entries in order. Returns one result per entry (kOk with its index, or the reason
  // it was refused; a repeated id answers kIdExists with the first one's index) after the
  // accepted entries are durable. An Error means an I/O failure: nothing of this batch is
  // acknowledged and the ledger refuses further appends until reopened.
  Result<std::vector<ApplyResult>> Append(std::span<const Entry> entries);

  std::optional<MicroPlume> Balance(std::string_view account) const;
  std::optional<HoldInfo> Hold(std::string_view job) const;
  bool Settled(std::string_view job, std::string_view task) const;
  // State::Unbonding / Withdrawable / Slashed, without copying the state.
  std::vector<Tranche> Unbonding(const PublicKey& agent) const;
  MicroPlume Withdrawable(const PublicKey& agent, uint64_t now_ms) const;
  bool Slashed(std::string_view job, std::string_view task) const;
  // A published dataset's record (data_entries.h), without copying the state.
  std::optional<DatasetRecord> Dataset(std::string_view id) const;
  // The blobs of every published dataset not revoked (what a blob retention sweep must keep).
  std::vector<Hash256> LiveDatasetBlobs() const;
  // State::DatasetsPublishedBy, without copying the state.
  uint64_t DatasetsPublishedBy(const PublicKey& owner) const;
  // Index of the entry with this client-chosen id (for `plume ledger prove ID`).
  std::optional<uint64_t> IndexOf(std::string_view id) const;
  uint64_t size() const;
  Keys keys() const { return keys_; }
  // The latest signed tree head (the one written with the last batch; for an empty ledger a
  // head of size 0, signed at open when writable).
  SignedTreeHead Head() const;
  // Copy of the whole state (balances, holds, ids) for reports.
  State StateCopy() const;
  // Bytes of torn or uncommitted tail cut (or, read-only, ignored) when opening.
  uint64_t recovered_tail_bytes() const { return recovered_tail_bytes_; }

  // Whether Open started from a snapshot that matched the log (else it replayed everything).
  bool opened_from_snapshot() const { return opened_from_snapshot_; }
  // Writes a snapshot now (Append also does, see LedgerOptions::snapshot_every_entries).
  Status Snapshot();

  Result<LoggedEntry> ReadEntry(uint64_t index) const;
  // Calls fn for entries [begin, size()) in order until it returns false.
  Status ForEachEntry(uint64_t begin, const std::function<bool(const LoggedEntry&)>& fn) const;
  // Inclusion proof of entry `index` against the latest head.
  Result<InclusionBundle> ProveInclusion(uint64_t index) const;
  // Consistency proof between the trees of old_size and new_size entries (<= size()).
  Result<std::vector<Hash256>> ConsistencyProof(uint64_t old_size, uint64_t new_size) const;
  Result<Hash256> RootAt(uint64_t tree_size) const;
  Status CheckInvariants() const;

 private:
  Ledger() = default;
  struct Authorized {
    Code code;
    Hash256 body_hash;
  };
  std::vector<Authorized> AuthorizeAll(std::span<const Entry> entries) const;
  Status Replay(LogReader& reader);
  bool LoadSnapshot(LogReader& reader);
  Status SnapshotLocked();
  Result<LoggedEntry> ReadEntryLocked(uint64_t index) const;
  uint64_t Now() const;

  mutable std::mutex mu_;
  std::filesystem::path dir_;
  std::optional<Identity> ledger_key_;  // absent when read-only
  Keys keys_;
  LedgerOptions options_;
  std::unique_ptr<LogWriter> writer_;  // null when read-only
  int read_fd_ = -1;
  int lock_fd_ = -1;
  bool failed_ = false;
  State state_;
  MerkleTree tree_;
  std::vector<uint64_t> offsets_;  // file offset of each entry's record
  Hash256 last_leaf_{};            // prev_hash for the next entry (zeros before the first)
  SignedTreeHead head_;
  uint64_t committed_end_ = kLogHeaderBytes;
  uint64_t recovered_tail_bytes_ = 0;
  uint64_t head_offset_ = 0;    // offset of the last head record
  uint64_t snapshot_size_ = 0;  // tree size at the last snapshot written or loaded
  bool opened_from_snapshot_ = false;
  std::vector<uint8_t> batch_;  // reused write buffer
};

// Client side: true when the bundle's head is signed by `ledger`, the entry's leaf hash is the
// hash of its record, and the path proves it is in that head's tree.
bool CheckInclusion(const InclusionBundle& bundle, const PublicKey& ledger);
// The Merkle leaf hash of a logged entry (hash of its record payload).
Hash256 EntryLeafHash(uint64_t index, const Hash256& prev_hash, const Entry& entry);

}  // namespace plume::ledger
