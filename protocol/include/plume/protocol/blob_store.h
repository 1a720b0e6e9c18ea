// Content-addressed blob storage and chunked transfer state.
//
// Layout: <dir>/ab/cdef... where abcdef... is the BLAKE2b-256 hex of the bytes; partial transfers
// live in <dir>/partial/<hex>.part; Put writes <dir>/tmp/<random> then fsync + rename + fsync of
// the directory, so a blob is either absent or whole. Get re-hashes and fails on a mismatch (a
// tampered or rotted file is an error, never returned).
//
// Size cap (agent caches): with BlobStoreOptions::capacity_bytes > 0, Put evicts the least
// recently used blobs (Get and Put count as use) until the new one fits; pinned blobs (inputs of
// a running task, results not yet delivered) are never evicted. The scheduler's store has no cap.
//
// Transfers (wire messages BlobPut/BlobAck push, BlobGet/BlobChunk pull; docs/protocol.md):
//   BlobReceiver writes chunks in order into the partial file, hashing as it goes; it resumes
//   from an existing partial file, and the blob becomes visible only after the final hash
//   matched. BlobSender hands out chunks of a stored blob and keeps the push window.
// Access control is the caller's: before serving a BlobGet, the scheduler asks its
// BlobReadPolicy (an agent may read the blobs of tasks assigned to it, a client those of its own
// jobs); refusals are answered with ErrorCode::unauthorized.
//
// Thread safety: BlobStore methods may be called from several threads (one mutex guards the
// index; file I/O of different blobs runs in parallel). BlobReceiver and BlobSender belong to one
// thread each.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"

namespace plume {

// Decides whether `principal` may read blob `hash`. Supplied by the scheduler.
using BlobReadPolicy = std::function<bool(const PublicKey& principal, const Hash256& hash)>;

struct BlobStoreOptions {
  uint64_t capacity_bytes = 0;  // 0: no cap, nothing is evicted
};

// One blob in the store, for a retention sweep: when its bytes were last stored (written, or
// written again by another upload of the same bytes; kept across restarts as the file's mtime).
struct StoredBlobInfo {
  Hash256 hash{};
  uint64_t size_bytes = 0;
  int64_t stored_unix_ms = 0;
};

class BlobStore {
 public:
  // Creates the directory when missing and indexes what is there (for LRU: by file mtime).
  static Result<std::unique_ptr<BlobStore>> Open(const std::filesystem::path& dir,
                                                 BlobStoreOptions options = {});
  ~BlobStore();

  Result<Hash256> Put(std::span<const uint8_t> bytes);
  Result<Hash256> Put(std::string_view bytes);
  // The whole blob, verified against its hash.
  Result<std::string> Get(const Hash256& hash);
  // Part of a blob, not verified (for serving chunks; the receiver verifies the whole).
  Result<std::string> ReadRange(const Hash256& hash, uint64_t offset, uint64_t length);
  bool Has(const Hash256& hash) const;
  Result<uint64_t> SizeOf(const Hash256& hash) const;
  Status Remove(const Hash256& hash);
  // Every blob, from the in-memory index (no directory walk).
  std::vector<StoredBlobInfo> List() const;
  std::filesystem::path PathOf(const Hash256& hash) const;

  // Pinned blobs survive eviction; pins nest (Pin twice, Unpin twice).
  void Pin(const Hash256& hash);
  void Unpin(const Hash256& hash);

  // Deletes partial transfers not written to for `age` (abandoned uploads); returns how many.
  // Call from a periodic timer, not while a BlobReceiver for the same hash is open.
  Result<uint64_t> RemovePartialsOlderThan(std::chrono::seconds age);

  uint64_t used_bytes() const;
  uint64_t evicted_blobs() const;
  const std::filesystem::path& dir() const;

 private:
  friend class BlobReceiver;
  friend class BlobWriter;
  struct Impl;
  explicit BlobStore(std::unique_ptr<Impl> impl);
  // Moves a verified file into place (rename + fsync) and indexes it, evicting if needed.
  Status Adopt(const std::filesystem::path& file, const Hash256& hash, uint64_t size_bytes);
  // `owner` names whose transfer it is (empty: this process's own pulls), so two senders of the
  // same hash never write into one file (an interleaved stranger would spoil the victim's bytes).
  std::filesystem::path PartialPath(const Hash256& hash, std::string_view owner) const;
  std::unique_ptr<Impl> impl_;
};

// One blob written in pieces by this process (a model checkpoint too large to hold twice): the
// bytes go to a temporary file, hashed as they come, and the blob appears whole at Commit, as
// with Put (fsync, rename, fsync of the directory). Dropped before Commit, or after a failed
// Append, the temporary file is removed and nothing is stored. One thread.
class BlobWriter {
 public:
  static Result<std::unique_ptr<BlobWriter>> Start(BlobStore& store);
  ~BlobWriter();
  Status Append(std::span<const uint8_t> bytes);
  Result<Hash256> Commit();  // once
  uint64_t size_bytes() const;

 private:
  struct Impl;
  explicit BlobWriter(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Receiving side of one blob transfer (push or pull).
class BlobReceiver {
 public:
  // Opens or resumes the partial file for `hash`. `total_size_bytes` may be unknown (nullopt)
  // until the first chunk says it. A server receiving from peers passes the sender as `owner`
  // (hex key): each sender resumes its own partial file and cannot disturb another's.
  static Result<std::unique_ptr<BlobReceiver>> Start(BlobStore& store, const Hash256& hash,
                                                     std::optional<uint64_t> total_size_bytes,
                                                     std::string_view owner = {});
  ~BlobReceiver();

  // Accepts the chunk at next_offset(); a chunk at an earlier offset (a duplicate) is ignored, one
  // at a later offset is ignored too (the sender rewinds to next_offset()). Fails on a chunk
  // larger than limits::kBlobChunkBytes, a total size that changed or exceeds kBlobBytesMax, a
  // write error, or a final hash mismatch (then the partial file is deleted).
  Status OnChunk(uint64_t offset, std::span<const uint8_t> bytes, uint64_t total_size_bytes);
  uint64_t next_offset() const;
  std::optional<uint64_t> total_size_bytes() const;
  bool complete() const;  // verified and stored in the BlobStore

  // Pull side: offsets of the chunks to request now so that at most kBlobWindowChunks are in
  // flight. Call after each OnChunk; after a timeout, call Rewind() and ask again.
  std::vector<uint64_t> NextRequests();
  void Rewind();
  // Deletes the partial file (an abandoned or evicted upload): its bytes are not kept on disk.
  void Discard();

 private:
  struct Impl;
  explicit BlobReceiver(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Sending side: serves chunks of a stored blob, and for pushes keeps the window of unacked bytes.
class BlobSender {
 public:
  static Result<std::unique_ptr<BlobSender>> Start(BlobStore& store, const Hash256& hash);
  ~BlobSender();

  uint64_t total_size_bytes() const;
  // Push: the chunks (offset, bytes) to send now; call again after each OnAck.
  struct Chunk {
    uint64_t offset;
    std::string bytes;
  };
  Result<std::vector<Chunk>> NextChunks();
  // The receiver holds [0, next_offset). Going backwards (receiver lost a chunk) rewinds.
  void OnAck(uint64_t next_offset, bool complete);
  bool done() const;
  // Pull: one chunk at an offset, for answering BlobGet.
  Result<Chunk> ChunkAt(uint64_t offset, uint32_t max_bytes);

 private:
  struct Impl;
  explicit BlobSender(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace plume
