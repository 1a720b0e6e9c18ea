// The ledger shell around the pure State: open/replay, group-committed appends, proofs
// (see ledger.h).
#include "plume/ledger/ledger.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>

#include "plume/ledger/limits.h"
#include "record.h"
#include "snapshot.h"

namespace plume::ledger {
namespace {
constexpr std::string_view kLogName = "ledger.log";
constexpr std::string_view kLockName = "LOCK";
// Below this many entries per thread, starting threads costs more than it saves.
constexpr size_t kEntriesPerThreadMin = 64;

uint64_t SystemNowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}
}  // namespace

Hash256 EntryLeafHash(uint64_t index, const Hash256& prev_hash, const Entry& entry) {
  std::vector<uint8_t> payload;
  EncodeEntryRecord(index, prev_hash, entry, payload);
  return MerkleLeafHash(payload);
}

bool CheckInclusion(const InclusionBundle& b, const PublicKey& ledger) {
  if (!VerifyHead(b.head, ledger)) return false;
  if (EntryLeafHash(b.logged.index, b.logged.prev_hash, b.logged.entry) != b.logged.leaf_hash) {
    return false;
  }
  return VerifyInclusion(b.logged.index, b.head.tree_size, b.logged.leaf_hash, b.path, b.head.root);
}

Result<std::unique_ptr<Ledger>> Ledger::Open(const std::filesystem::path& dir,
                                             const Identity& ledger_key,
                                             const PublicKey& operator_key, LedgerOptions options) {
  std::unique_ptr<Ledger> l(new Ledger());
  l->dir_ = dir;
  l->ledger_key_ = ledger_key;
  l->keys_ = Keys{ledger_key.public_key(), operator_key, {}};
  l->options_ = std::move(options);
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Fail("cannot create ledger directory " + dir.string() + ": " + ec.message());
  l->lock_fd_ = ::open((dir / kLockName).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (l->lock_fd_ < 0 || ::flock(l->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return Fail("ledger " + dir.string() +
                " is open by another process (or LOCK is not writable); stop it first");
  }
  const std::filesystem::path path = dir / kLogName;
  const uint64_t size =
      std::filesystem::exists(path, ec) ? std::filesystem::file_size(path, ec) : 0;
  // A header shorter than kLogHeaderBytes can only come from a crash while creating the file,
  // before any entry was acknowledged, so starting it again loses nothing.
  if (size < kLogHeaderBytes) {
    // ...unless it is a whole header of an older format, which must not be overwritten.
    std::vector<uint8_t> prefix(12);
    if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
      prefix.resize(std::fread(prefix.data(), 1, prefix.size(), f));
      std::fclose(f);
    }
    if (auto s = CheckLogVersion(prefix); !s) return tl::unexpected(s.error());
    auto created =
        LogWriter::Create(path, LogHeader{l->keys_.ledger, operator_key,
                                          l->options_.genesis_nonce.value_or(NewLedgerNonce())});
    if (!created) return tl::unexpected(created.error());
  }
  auto reader = LogReader::Open(path);
  if (!reader) return tl::unexpected(reader.error());
  if ((*reader)->header().ledger != l->keys_.ledger ||
      (*reader)->header().operator_key != operator_key) {
    return Fail("ledger " + dir.string() + " was created for ledger key " +
                ToHex((*reader)->header().ledger) + " and operator key " +
                ToHex((*reader)->header().operator_key) +
                "; open it with those keys (or use another directory)");
  }
  l->keys_.ledger_id = LedgerIdOf((*reader)->header());
  l->opened_from_snapshot_ = l->LoadSnapshot(**reader);
  if (auto s = l->Replay(**reader); !s) return tl::unexpected(s.error());
  auto writer = LogWriter::OpenAt(path, l->committed_end_);
  if (!writer) return tl::unexpected(writer.error());
  l->writer_ = std::move(*writer);
  l->read_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (l->read_fd_ < 0) return Fail("cannot open " + path.string() + " for reading");
  if (l->tree_.size() == 0) l->head_ = SignHead(0, l->Now(), MerkleEmptyRoot(), ledger_key);
  return l;
}

Result<std::unique_ptr<Ledger>> Ledger::OpenReadOnly(const std::filesystem::path& dir) {
  std::unique_ptr<Ledger> l(new Ledger());
  l->dir_ = dir;
  const std::filesystem::path path = dir / kLogName;
  auto reader = LogReader::Open(path);
  if (!reader) return tl::unexpected(reader.error());
  const LogHeader& header = (*reader)->header();
  l->keys_ = Keys{header.ledger, header.operator_key, LedgerIdOf(header)};
  l->opened_from_snapshot_ = l->LoadSnapshot(**reader);
  if (auto s = l->Replay(**reader); !s) return tl::unexpected(s.error());
  l->read_fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (l->read_fd_ < 0) return Fail("cannot open " + path.string() + " for reading");
  if (l->tree_.size() == 0) l->head_.root = MerkleEmptyRoot();  // unsigned: nothing to attest
  return l;
}

Ledger::~Ledger() {
  if (read_fd_ >= 0) ::close(read_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

uint64_t Ledger::Now() const {
  return options_.now_unix_ms ? options_.now_unix_ms() : SystemNowMs();
}

// Replays committed batches (entries followed by their head). Signatures were checked before
// the entries were written and the checksums guard the bytes since, so replay skips the
// per-entry signature checks (Verify does them) but checks the chain, the rules, every head's
// root and signature.
Status Ledger::Replay(LogReader& reader) {
  struct Pending {
    uint64_t offset;
    Hash256 leaf;
    Entry entry;
  };
  std::vector<Pending> pending;
  Hash256 chain = last_leaf_;  // zeros, or the snapshot's last leaf
  const auto where = [&] { return "ledger.log offset " + std::to_string(reader.offset()); };
  while (true) {
    const LogReader::Next next = reader.ReadNext();
    if (next == LogReader::Next::kEnd) break;
    if (next == LogReader::Next::kBad) {
      const uint64_t committed = tree_.size();
      const bool later_head =
          reader.ValidRecordFollows(reader.offset(), [&](std::span<const uint8_t> p) {
            if (!IsHeadRecord(p)) return false;
            auto r = DecodeRecord(p);
            return r && std::get<SignedTreeHead>(*r).tree_size > committed;
          });
      if (later_head) {
        return Fail(where() + " (entry " + std::to_string(committed + pending.size()) +
                    "): " + reader.bad_reason() +
                    ", and committed records follow it. The committed log is damaged; run "
                    "`plume ledger verify` and restore the directory from a replica or backup");
      }
      break;  // a torn tail: everything from here on was never acknowledged
    }
    auto rec = DecodeRecord(reader.payload());
    if (!rec) return Fail(where() + ": " + rec.error().message + "; run `plume ledger verify`");
    if (auto* e = std::get_if<EntryRecord>(&*rec)) {
      if (e->index != tree_.size() + pending.size() || e->prev_hash != chain) {
        return Fail(where() + ": entry " + std::to_string(e->index) +
                    " is out of order or breaks the hash chain; run `plume ledger verify`");
      }
      chain = MerkleLeafHash(reader.payload());
      pending.push_back(Pending{reader.offset(), chain, std::move(e->entry)});
      continue;
    }
    const SignedTreeHead& head = std::get<SignedTreeHead>(*rec);
    if (head.tree_size != tree_.size() + pending.size()) {
      return Fail(where() + ": tree head size does not match the entries before it");
    }
    for (Pending& p : pending) {
      const ApplyResult r = state_.Apply(p.entry, BodyHash(p.entry));
      if (r.code != Code::kOk) {
        return Fail(where() + ": logged entry " + std::to_string(tree_.size()) +
                    " does not apply (" + std::string(CodeName(r.code)) +
                    "); run `plume ledger verify`");
      }
      tree_.AddLeafHash(p.leaf);
      offsets_.push_back(p.offset);
    }
    pending.clear();
    if (tree_.Root() != head.root || !VerifyHead(head, keys_.ledger)) {
      return Fail(where() +
                  ": signed tree head does not match the entries or its signature "
                  "is bad; run `plume ledger verify`");
    }
    head_ = head;
    head_offset_ = reader.offset();
    last_leaf_ = chain;
    committed_end_ = reader.end_offset();
  }
  recovered_tail_bytes_ = reader.file_bytes() - committed_end_;
  return {};
}

// Uses <dir>/snapshot when it provably matches the log (see snapshot.h); false means replay
// from the start. Runs before Replay, which then continues after the snapshot's head.
bool Ledger::LoadSnapshot(LogReader& reader) {
  auto snap = ReadSnapshot(dir_, keys_);
  if (!snap || snap->head.tree_size == 0 || snap->committed_end > reader.file_bytes()) {
    return false;
  }
  const int fd = ::open((dir_ / kLogName).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  auto head_record = ReadRecordAt(fd, snap->head_offset);
  auto last_entry = ReadRecordAt(fd, snap->offsets.back());
  ::close(fd);
  if (!head_record || *head_record != EncodeHeadRecord(snap->head) ||
      snap->head_offset + kRecordFrameBytes + head_record->size() != snap->committed_end ||
      !last_entry || MerkleLeafHash(*last_entry) != snap->leaves.back() ||
      !VerifyHead(snap->head, keys_.ledger)) {
    return false;
  }
  MerkleTree tree;
  for (const Hash256& leaf : snap->leaves) tree.AddLeafHash(leaf);
  if (tree.Root() != snap->head.root || !reader.SeekTo(snap->committed_end)) return false;
  tree_ = std::move(tree);
  state_ = std::move(snap->state);
  offsets_ = std::move(snap->offsets);
  last_leaf_ = snap->leaves.back();
  head_ = snap->head;
  head_offset_ = snap->head_offset;
  committed_end_ = snap->committed_end;
  snapshot_size_ = tree_.size();
  return true;
}

Status Ledger::Snapshot() {
  std::lock_guard lock(mu_);
  return SnapshotLocked();
}

Status Ledger::SnapshotLocked() {
  if (!writer_) return Fail("ledger " + dir_.string() + " is open read-only");
  if (tree_.size() == 0) return {};
  struct Snapshot snap;
  snap.head = head_;
  snap.head_offset = head_offset_;
  snap.committed_end = committed_end_;
  snap.offsets = offsets_;
  snap.leaves.reserve(tree_.size());
  for (uint64_t i = 0; i < tree_.size(); ++i) snap.leaves.push_back(tree_.LeafHash(i));
  snap.state = state_;
  if (auto s = WriteSnapshot(dir_, snap, *ledger_key_, keys_.ledger_id); !s) return s;
  snapshot_size_ = tree_.size();
  return {};
}

std::vector<Ledger::Authorized> Ledger::AuthorizeAll(std::span<const Entry> entries) const {
  std::vector<Authorized> out(entries.size());
  const auto work = [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      out[i].code = Authorize(entries[i], keys_);
      if (out[i].code == Code::kOk) out[i].body_hash = BodyHash(entries[i]);
    }
  };
  unsigned threads = options_.verify_threads;
  if (threads == 0) threads = std::min(16u, std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<unsigned>(
      std::min<size_t>(threads, std::max<size_t>(1, entries.size() / kEntriesPerThreadMin)));
  if (threads <= 1) {
    work(0, entries.size());
    return out;
  }
  std::vector<std::thread> pool;
  const size_t chunk = (entries.size() + threads - 1) / threads;
  for (unsigned t = 1; t < threads; ++t) {
    const size_t begin = std::min(entries.size(), t * chunk);
    pool.emplace_back(work, begin, std::min(entries.size(), begin + chunk));
  }
  work(0, std::min(entries.size(), chunk));
  for (std::thread& t : pool) t.join();
  return out;
}

Result<std::vector<ApplyResult>> Ledger::Append(std::span<const Entry> entries) {
  if (entries.size() > kAppendBatchMax) {
    return Fail("append batch of " + std::to_string(entries.size()) + " entries is over the " +
                std::to_string(kAppendBatchMax) + " limit; split it");
  }
  // Signatures are checked before taking the lock: they need no state.
  const std::vector<Authorized> auth = AuthorizeAll(entries);
  std::lock_guard lock(mu_);
  if (!writer_) return Fail("ledger " + dir_.string() + " is open read-only");
  if (failed_) return Fail("ledger " + dir_.string() + " had an I/O error; reopen it");
  std::vector<ApplyResult> results(entries.size());
  batch_.clear();
  std::vector<uint8_t> payload;
  const uint64_t first_new = tree_.size();
  for (size_t i = 0; i < entries.size(); ++i) {
    if (auth[i].code != Code::kOk) {
      results[i] = ApplyResult{auth[i].code, 0};
      continue;
    }
    results[i] = state_.Apply(entries[i], auth[i].body_hash);
    if (results[i].code != Code::kOk) continue;
    payload.clear();
    EncodeEntryRecord(results[i].index, last_leaf_, entries[i], payload);
    last_leaf_ = MerkleLeafHash(payload);
    tree_.AddLeafHash(last_leaf_);
    offsets_.push_back(writer_->size() + batch_.size());
    AppendRecord(payload, batch_);
  }
  if (tree_.size() == first_new) return results;  // nothing accepted, nothing to write
  // Head times never go backwards, even when the system clock does (Verify checks the order).
  const uint64_t now_ms = std::max(Now(), head_.timestamp_unix_ms);
  const SignedTreeHead head = SignHead(tree_.size(), now_ms, tree_.Root(), *ledger_key_);
  const uint64_t head_offset = writer_->size() + batch_.size();
  AppendRecord(EncodeHeadRecord(head), batch_);
  if (auto s = writer_->WriteAndSync(batch_); !s) {
    // The in-memory state is ahead of the disk now; only a reopen (replay) makes them agree.
    failed_ = true;
    return tl::unexpected(s.error());
  }
  head_ = head;
  head_offset_ = head_offset;
  committed_end_ = writer_->size();
  if (options_.check_invariants) {
    if (auto s = state_.CheckInvariants(); !s) {
      failed_ = true;
      return tl::unexpected(s.error());
    }
  }
  if (options_.snapshot_every_entries > 0 &&
      tree_.size() - snapshot_size_ >= options_.snapshot_every_entries) {
    // A failed snapshot costs only open time (Open replays more), so the batch still succeeds;
    // the next Append tries again.
    (void)SnapshotLocked();
  }
  return results;
}

std::optional<MicroPlume> Ledger::Balance(std::string_view account) const {
  std::lock_guard lock(mu_);
  return state_.Balance(account);
}

std::optional<HoldInfo> Ledger::Hold(std::string_view job) const {
  std::lock_guard lock(mu_);
  return state_.Hold(job);
}

bool Ledger::Settled(std::string_view job, std::string_view task) const {
  std::lock_guard lock(mu_);
  return state_.Settled(job, task);
}

std::vector<Tranche> Ledger::Unbonding(const PublicKey& agent) const {
  std::lock_guard lock(mu_);
  return state_.Unbonding(agent);
}

MicroPlume Ledger::Withdrawable(const PublicKey& agent, uint64_t now_ms) const {
  std::lock_guard lock(mu_);
  return state_.Withdrawable(agent, now_ms);
}

bool Ledger::Slashed(std::string_view job, std::string_view task) const {
  std::lock_guard lock(mu_);
  return state_.Slashed(job, task);
}

std::optional<DatasetRecord> Ledger::Dataset(std::string_view id) const {
  std::lock_guard lock(mu_);
  return state_.Dataset(id);
}

std::vector<Hash256> Ledger::LiveDatasetBlobs() const {
  std::lock_guard lock(mu_);
  std::vector<Hash256> out;
  for (const auto& [id, d] : state_.datasets()) {
    if (!d.revoked) out.push_back(d.terms.blob_hash);
  }
  return out;
}

uint64_t Ledger::DatasetsPublishedBy(const PublicKey& owner) const {
  std::lock_guard lock(mu_);
  return state_.DatasetsPublishedBy(owner);
}

std::optional<uint64_t> Ledger::IndexOf(std::string_view id) const {
  std::lock_guard lock(mu_);
  return state_.IndexOf(id);
}

uint64_t Ledger::size() const {
  std::lock_guard lock(mu_);
  return tree_.size();
}

SignedTreeHead Ledger::Head() const {
  std::lock_guard lock(mu_);
  return head_;
}

State Ledger::StateCopy() const {
  std::lock_guard lock(mu_);
  return state_;
}

Status Ledger::CheckInvariants() const {
  std::lock_guard lock(mu_);
  return state_.CheckInvariants();
}

Result<LoggedEntry> Ledger::ReadEntryLocked(uint64_t index) const {
  if (index >= tree_.size()) {
    return Fail("entry " + std::to_string(index) + " does not exist; the ledger has " +
                std::to_string(tree_.size()) + " entries");
  }
  auto payload = ReadRecordAt(read_fd_, offsets_[index]);
  if (!payload) return tl::unexpected(payload.error());
  auto rec = DecodeRecord(*payload);
  if (!rec || !std::holds_alternative<EntryRecord>(*rec)) {
    return Fail("record of entry " + std::to_string(index) + " does not decode");
  }
  EntryRecord& e = std::get<EntryRecord>(*rec);
  return LoggedEntry{e.index, e.prev_hash, tree_.LeafHash(index), std::move(e.entry)};
}

Result<LoggedEntry> Ledger::ReadEntry(uint64_t index) const {
  std::lock_guard lock(mu_);
  return ReadEntryLocked(index);
}

Status Ledger::ForEachEntry(uint64_t begin,
                            const std::function<bool(const LoggedEntry&)>& fn) const {
  for (uint64_t i = begin;; ++i) {
    Result<LoggedEntry> e;
    {
      std::lock_guard lock(mu_);
      if (i >= tree_.size()) return {};
      e = ReadEntryLocked(i);
    }
    if (!e) return tl::unexpected(e.error());
    if (!fn(*e)) return {};
  }
}

Result<InclusionBundle> Ledger::ProveInclusion(uint64_t index) const {
  std::lock_guard lock(mu_);
  auto logged = ReadEntryLocked(index);
  if (!logged) return tl::unexpected(logged.error());
  if (index >= head_.tree_size)
    return Fail("entry " + std::to_string(index) + " is not under a signed head yet");
  return InclusionBundle{std::move(*logged), tree_.InclusionProof(index, head_.tree_size), head_};
}

Result<std::vector<Hash256>> Ledger::ConsistencyProof(uint64_t old_size, uint64_t new_size) const {
  std::lock_guard lock(mu_);
  if (old_size > new_size || new_size > tree_.size()) {
    return Fail("consistency proof needs old size <= new size <= " + std::to_string(tree_.size()));
  }
  return tree_.ConsistencyProof(old_size, new_size);
}

Result<Hash256> Ledger::RootAt(uint64_t tree_size) const {
  std::lock_guard lock(mu_);
  if (tree_size > tree_.size()) return Fail("the ledger has fewer entries than that");
  return tree_.Root(tree_size);
}

}  // namespace plume::ledger
