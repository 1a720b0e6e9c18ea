// Blob transfer over the wire: the serving side (BlobService, used by the scheduler's reactor to
// answer BlobGet and BlobPut) and blocking client helpers (PushBlob, PullBlob) for the CLI and for
// an agent's transfer connection.
//
// Access control: BlobService asks the BlobReadPolicy before every chunk it serves (the
// scheduler's rule: an agent may read the inputs of tasks assigned to it, a client the blobs of
// its own jobs) and the BlobWritePolicy before accepting an upload (for quotas; content
// addressing makes overwriting impossible). Refusals are Error{unauthorized} replies, counted in
// stats(). A blob already stored is acknowledged at once to a principal the read policy allows;
// any other principal must send its bytes once more (hashed, not written) before it counts as
// having uploaded it (BlobStoredCallback), so a hash alone never buys access.
//
// Threads: a BlobService belongs to the thread that owns the TransportServer. PushBlob/PullBlob
// block the calling thread and consume every message that arrives on the client meanwhile, so
// give them a client with nothing else in flight (the CLI's, or a second TransportClient an agent
// opens for bulk data so that heartbeats never wait behind 1 MiB chunks).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "plume/protocol/blob_store.h"
#include "plume/protocol/error.h"
#include "plume/protocol/message.h"
#include "plume/protocol/transport.h"

namespace plume {

// Decides whether `principal` may upload blob `hash` of `size_bytes` (quota); nullptr allows all.
using BlobWritePolicy =
    std::function<bool(const PublicKey& principal, const Hash256& hash, uint64_t size_bytes)>;
// Told once per verified upload (e.g. to remember who uploaded a job's data).
using BlobStoredCallback = std::function<void(const PublicKey& principal, const Hash256& hash,
                                              uint64_t size_bytes)>;

struct BlobServiceStats {
  uint64_t chunks_served = 0;
  uint64_t bytes_served = 0;
  uint64_t chunks_received = 0;
  uint64_t bytes_received = 0;
  uint64_t blobs_stored = 0;
  uint64_t refused_reads = 0;
  uint64_t refused_writes = 0;
  uint64_t failed_uploads = 0;  // bad chunk or failed verification
};

class BlobService {
 public:
  // `store` must outlive the service. `self` is the replier's id (the Envelope sender).
  BlobService(BlobStore& store, PublicKey self, BlobReadPolicy can_read,
              BlobWritePolicy can_write = nullptr, BlobStoredCallback on_stored = nullptr);
  ~BlobService();

  // The reply to a blobGet message: BlobChunk, or Error (badMessage, unauthorized, notFound).
  MessageBuilder OnBlobGet(const PublicKey& principal, const Message& request);
  // The reply to a blobPut message: BlobAck, or Error (badMessage, unauthorized, retryLater,
  // tooLarge). Each sender has its own partial file per hash (a stranger's chunks never mix
  // with it); open uploads are bounded per sender, in number and in declared bytes
  // (limits.h kBlobUploadsPerSenderMax, kBlobUploadsMax, kBlobPartialBytesMax), least recently
  // active closed first with their partial files deleted.
  MessageBuilder OnBlobPut(const PublicKey& principal, const Message& request);

  // Closes uploads with no chunk for `idle` and deletes their partial files, and any partial
  // file not written for `idle` (left by an earlier run); returns how many. Call from a timer.
  uint64_t CloseIdleUploads(std::chrono::seconds idle);

  const BlobServiceStats& stats() const;
  size_t open_uploads() const;
  uint64_t open_upload_bytes() const;  // declared sizes of the open uploads

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Uploads a blob from `store` with BlobPut, resuming where the server's partial copy ends.
// Fails on an Error reply or when no ack arrives for `idle_timeout`.
Status PushBlob(TransportClient& client, BlobStore& store, const Hash256& hash,
                std::chrono::milliseconds idle_timeout);
// Downloads a blob into `store` with BlobGet, resuming from a local partial file; verified before
// it becomes visible. Fails on an Error reply (e.g. unauthorized) or after repeated timeouts.
Status PullBlob(TransportClient& client, BlobStore& store, const Hash256& hash,
                std::chrono::milliseconds idle_timeout);

}  // namespace plume
