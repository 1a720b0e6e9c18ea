// Every bound of the protocol component in one place: message and chunk sizes, decoder limits,
// transport timeouts and queue depths, blob cache defaults. Peers must agree on the message and
// chunk bounds; the rest are local choices.
#pragma once

#include <cstddef>
#include <cstdint>

namespace plume::limits {

// Envelope.version this build speaks. A message with another version is refused with
// ErrorCode::unsupportedVersion.
inline constexpr uint16_t kProtocolVersion = 1;

// Largest encoded Envelope (one ZeroMQ frame). A blob chunk plus its envelope fits with room.
inline constexpr size_t kMessageBytesMax = 8u << 20;  // 8 MiB
// libzmq's ZMQ_MAXMSGSIZE on every socket: a peer that sends more is disconnected by libzmq
// before the frame is buffered whole. Slightly above kMessageBytesMax so that our own decoder,
// not libzmq, reports frames that are only a little too large.
inline constexpr int64_t kSocketFrameBytesMax = kMessageBytesMax + 64 * 1024;

// Cap'n Proto reader limits, set explicitly rather than trusting the library defaults.
// Traversal limit: words a reader may visit; validation walks the message once, then the caller
// gets a fresh reader with this budget, so it allows reading every word several times over.
inline constexpr uint64_t kTraversalWordsMax = 4 * (kMessageBytesMax / 8);
// Our schema nests at most about 5 levels (Envelope > body > params > BlobRef > Data).
inline constexpr int kNestingDepthMax = 16;

// Blob transfer: one chunk per BlobPut/BlobChunk, and at most this many unacknowledged chunks
// (push) or outstanding requests (pull) per transfer.
inline constexpr size_t kBlobChunkBytes = 1u << 20;  // 1 MiB
inline constexpr uint32_t kBlobWindowChunks = 8;
// Uploads a BlobService keeps open at once (each holds a file descriptor); beyond this the least
// recently active one is closed and resumes from its partial file later.
inline constexpr size_t kBlobUploadsMax = 256;
// One sender's open uploads: a fifth closes its own oldest (keys are free, so this bounds a
// sender's share of the table, not the table; kBlobPartialBytesMax bounds the disk).
inline constexpr size_t kBlobUploadsPerSenderMax = 4;
// Declared sizes of all open uploads together: the disk partial files may take. A new upload
// that would pass it evicts the least recently active ones (their partial files are deleted).
inline constexpr uint64_t kBlobPartialBytesMax = 128ull << 30;
// PullBlob gives up after this many idle timeouts in a row without progress.
inline constexpr int kBlobTimeoutsMax = 3;
// Largest single blob (datasets, checkpoints). 64 GiB.
inline constexpr uint64_t kBlobBytesMax = 64ull << 30;
// Resuming a partial upload (after a restart) must not hash gigabytes on the thread that
// serves everyone: the receiver keeps its running hash beside the partial every
// kBlobResumeStateEveryBytes, and on resume hashes at most kBlobResumeRehashBytesMax past that
// point; a longer unhashed tail is cut off and sent again.
inline constexpr uint64_t kBlobResumeStateEveryBytes = 16ull << 20;
inline constexpr uint64_t kBlobResumeRehashBytesMax = 32ull << 20;
static_assert(kBlobResumeStateEveryBytes + kBlobChunkBytes <= kBlobResumeRehashBytesMax,
              "an honest resume (the tail since the last saved state) is never cut");

// Transport.
inline constexpr int kSendHighWaterMarkMessages = 10000;  // per peer, queued by libzmq
inline constexpr int kRecvHighWaterMarkMessages = 10000;
inline constexpr int kLingerMs = 200;                     // on close: flush briefly, then drop
inline constexpr int kZapPollMs = 100;                    // ZAP thread checks for shutdown this often
inline constexpr size_t kPeerKeyCacheEntries = 65536;     // curve key -> verified ed25519 id
inline constexpr int kHandshakeIvlMs = 5000;              // CURVE handshake must finish in this
// ZMTP heartbeats on every connection, so that a peer that vanished without closing TCP (power
// loss, partition) is noticed and the client reconnects by itself.
inline constexpr int kZmtpHeartbeatIvlMs = 2000;
inline constexpr int kZmtpHeartbeatTimeoutMs = 10000;
inline constexpr uint32_t kRefusalLogLinesPerSecond = 10;  // more refusals are counted, not logged

// Lists in replies (ListJobs, ListNodes) are cut at this many rows.
inline constexpr uint32_t kListRowsMax = 1000;
// LedgerReply.history: at most this many entries, and at most this many bytes of encoded entries
// (an entry can be 64 KiB), so a reply always fits kMessageBytesMax; older entries are cut first.
inline constexpr uint32_t kLedgerHistoryRowsMax = 1000;
inline constexpr size_t kLedgerHistoryBytesMax = kMessageBytesMax / 2;

// TaskResult.commitments: a training chain has at most 32 links; an inference shard one hash per
// prompt, so this bounds the prompts of a shard whose result carries commitments (2 MiB).
inline constexpr size_t kResultCommitmentsMax = 65536;

// An owner attestation file (protocol/owner.h): five short lines, about 400 bytes. Read with this
// bound so that a wrong path (a dataset, a device) is refused, not read whole.
inline constexpr size_t kOwnerAttestationFileBytesMax = 1024;

}  // namespace plume::limits
