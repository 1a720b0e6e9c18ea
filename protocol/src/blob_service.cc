// BlobService (serving BlobGet/BlobPut) and the blocking PushBlob/PullBlob client helpers.
#include "plume/protocol/blob_service.h"

#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>

#include "plume/protocol/limits.h"

namespace plume {
namespace {

MessageBuilder ErrorReply(uint64_t request_id, const PublicKey& self, wire::ErrorCode code,
                          const std::string& text) {
  MessageBuilder b(request_id, self);
  auto e = b.body().initError();
  e.setCode(code);
  e.setMessage(text);
  return b;
}

std::span<const uint8_t> Bytes(capnp::Data::Reader data) {
  return std::span(data.begin(), data.size());
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::string ErrorText(const Message& m) {
  auto e = m.body().getError();
  return std::string(e.getMessage().cStr());
}

}  // namespace

struct BlobService::Impl {
  BlobStore* store;
  PublicKey self;
  BlobReadPolicy can_read;
  BlobWritePolicy can_write;
  BlobStoredCallback on_stored;
  BlobServiceStats stats;
  // Keyed by (sender, hash): each sender writes its own partial file, so a stranger who knows
  // the hash cannot interleave chunks or announce another size into someone else's upload.
  struct Upload {
    std::unique_ptr<BlobReceiver> receiver;
    uint64_t declared_bytes = 0;
    uint64_t last_use = 0;
    std::chrono::steady_clock::time_point last_active;
  };
  using UploadKey = std::pair<PublicKey, Hash256>;
  std::map<UploadKey, Upload> uploads;
  uint64_t declared_bytes = 0;  // sum over `uploads`
  // A blob the store already has, sent again by a key that may not read it: its bytes are hashed
  // as they come (nothing is written) and the key counts as an uploader only if they match. So
  // knowing a hash never makes a key an uploader (the scheduler's read and submit rules trust it).
  struct Proof {
    Hasher hasher;
    uint64_t next_offset = 0;
    uint64_t last_use = 0;
  };
  std::map<std::pair<PublicKey, Hash256>, Proof> proofs;
  uint64_t use_clock = 0;

  MessageBuilder OnProofChunk(const PublicKey& principal, const Hash256& hash,
                              wire::BlobPut::Reader put, uint64_t request_id);

  // Closes an upload; `discard` also deletes its partial file (evicted or abandoned: the bytes
  // must not stay on disk, or closing would not bound it).
  void Close(std::map<UploadKey, Upload>::iterator it, bool discard) {
    if (discard) it->second.receiver->Discard();
    declared_bytes -= it->second.declared_bytes;
    uploads.erase(it);
  }

  template <typename Pred>
  void CloseOldest(Pred pred) {
    auto oldest = uploads.end();
    for (auto it = uploads.begin(); it != uploads.end(); ++it) {
      if (pred(it->first) && (oldest == uploads.end() || it->second.last_use < oldest->second.last_use)) {
        oldest = it;
      }
    }
    if (oldest != uploads.end()) Close(oldest, true);
  }

  // Bounds before a new upload of `bytes` by `sender` opens: the sender's own count, the table,
  // and the declared bytes on disk. Least recently active uploads go first.
  void MakeRoom(const PublicKey& sender, uint64_t bytes) {
    size_t own = 0;
    for (const auto& [key, u] : uploads) own += key.first == sender;
    if (own >= limits::kBlobUploadsPerSenderMax) {
      CloseOldest([&](const UploadKey& k) { return k.first == sender; });
    }
    while (!uploads.empty() && (uploads.size() >= limits::kBlobUploadsMax ||
                                declared_bytes + bytes > limits::kBlobPartialBytesMax)) {
      CloseOldest([](const UploadKey&) { return true; });
    }
  }
};

MessageBuilder BlobService::Impl::OnProofChunk(const PublicKey& principal, const Hash256& hash,
                                              wire::BlobPut::Reader put, uint64_t request_id) {
  const uint64_t total = put.getTotalSizeBytes();
  auto size = store->SizeOf(hash);
  if (!size || *size != total) {
    ++stats.failed_uploads;
    return ErrorReply(request_id, self, wire::ErrorCode::BAD_MESSAGE,
                      "blob " + ToHex(hash) + " is stored with another size than the " +
                          std::to_string(total) + " bytes announced");
  }
  const auto key = std::pair{principal, hash};
  auto it = proofs.find(key);
  if (it == proofs.end()) {
    if (proofs.size() >= limits::kBlobUploadsMax) {  // bounded like uploads: oldest goes
      proofs.erase(std::min_element(proofs.begin(), proofs.end(), [](auto& a, auto& b) {
        return a.second.last_use < b.second.last_use;
      }));
    }
    it = proofs.try_emplace(key).first;
  }
  Proof& p = it->second;
  p.last_use = ++use_clock;
  auto bytes = Bytes(put.getBytes());
  if (bytes.size() > limits::kBlobChunkBytes || bytes.size() > total - p.next_offset) {
    proofs.erase(it);
    ++stats.failed_uploads;
    return ErrorReply(request_id, self, wire::ErrorCode::BAD_MESSAGE,
                      "blobPut chunk larger than the chunk bound or past the blob's end");
  }
  if (put.getOffset() == p.next_offset) {  // others: duplicates or ahead; the ack rewinds them
    p.hasher.Update(bytes);
    p.next_offset += bytes.size();
    ++stats.chunks_received;
    stats.bytes_received += bytes.size();
  }
  MessageBuilder reply(request_id, self);
  auto ack = reply.body().initBlobAck();
  ack.setHash(AsData(hash));
  ack.setNextOffset(p.next_offset);
  ack.setComplete(false);
  if (p.next_offset < total) return reply;
  const bool matches = p.hasher.Final() == hash;
  proofs.erase(it);
  if (!matches) {
    ++stats.failed_uploads;
    return ErrorReply(request_id, self, wire::ErrorCode::BAD_MESSAGE,
                      "the bytes sent do not hash to blob " + ToHex(hash));
  }
  ack.setComplete(true);
  if (on_stored) on_stored(principal, hash, total);
  return reply;
}

BlobService::BlobService(BlobStore& store, PublicKey self, BlobReadPolicy can_read,
                         BlobWritePolicy can_write, BlobStoredCallback on_stored)
    : impl_(std::make_unique<Impl>()) {
  impl_->store = &store;
  impl_->self = self;
  impl_->can_read = std::move(can_read);
  impl_->can_write = std::move(can_write);
  impl_->on_stored = std::move(on_stored);
}

BlobService::~BlobService() = default;
const BlobServiceStats& BlobService::stats() const { return impl_->stats; }
size_t BlobService::open_uploads() const { return impl_->uploads.size(); }
uint64_t BlobService::open_upload_bytes() const { return impl_->declared_bytes; }

uint64_t BlobService::CloseIdleUploads(std::chrono::seconds idle) {
  auto& s = *impl_;
  const auto cutoff = std::chrono::steady_clock::now() - idle;
  uint64_t closed = 0;
  for (auto it = s.uploads.begin(); it != s.uploads.end();) {
    auto next = std::next(it);
    if (it->second.last_active < cutoff) {
      s.Close(it, true);
      ++closed;
    }
    it = next;
  }
  // Partial files of uploads this process never opened (an earlier run) are orphans by now.
  if (auto removed = s.store->RemovePartialsOlderThan(idle); removed) closed += *removed;
  return closed;
}

MessageBuilder BlobService::OnBlobGet(const PublicKey& principal, const Message& request) {
  auto& s = *impl_;
  uint64_t id = request.request_id();
  if (request.kind() != MessageKind::BLOB_GET) {
    return ErrorReply(id, s.self, wire::ErrorCode::UNEXPECTED, "expected blobGet");
  }
  auto get = request.body().getBlobGet();
  auto hash = HashFromData(get.getHash());
  if (!hash) return ErrorReply(id, s.self, wire::ErrorCode::BAD_MESSAGE, "blobGet: " + hash.error().message);
  std::string hex = ToHex(*hash);
  if (!s.can_read || !s.can_read(principal, *hash)) {
    ++s.stats.refused_reads;
    spdlog::warn("blob: refused read of {} by {}", hex, ToHex(principal));
    return ErrorReply(id, s.self, wire::ErrorCode::UNAUTHORIZED,
                      "you may not read blob " + hex + " (it is not an input of your tasks or an "
                      "output of your jobs)");
  }
  auto total = s.store->SizeOf(*hash);
  if (!total) return ErrorReply(id, s.self, wire::ErrorCode::NOT_FOUND, "blob " + hex + " not found");
  uint64_t want = get.getMaxBytes() == 0 ? limits::kBlobChunkBytes
                                         : std::min<uint64_t>(get.getMaxBytes(), limits::kBlobChunkBytes);
  auto bytes = s.store->ReadRange(*hash, get.getOffset(), want);
  if (!bytes) return ErrorReply(id, s.self, wire::ErrorCode::BAD_MESSAGE, bytes.error().message);
  ++s.stats.chunks_served;
  s.stats.bytes_served += bytes->size();
  MessageBuilder reply(id, s.self);
  auto chunk = reply.body().initBlobChunk();
  chunk.setHash(AsData(*hash));
  chunk.setOffset(get.getOffset());
  chunk.setBytes(AsData(Bytes(*bytes)));
  chunk.setTotalSizeBytes(*total);
  return reply;
}

MessageBuilder BlobService::OnBlobPut(const PublicKey& principal, const Message& request) {
  auto& s = *impl_;
  uint64_t id = request.request_id();
  if (request.kind() != MessageKind::BLOB_PUT) {
    return ErrorReply(id, s.self, wire::ErrorCode::UNEXPECTED, "expected blobPut");
  }
  auto put = request.body().getBlobPut();
  auto hash = HashFromData(put.getHash());
  if (!hash) return ErrorReply(id, s.self, wire::ErrorCode::BAD_MESSAGE, "blobPut: " + hash.error().message);
  const uint64_t total = put.getTotalSizeBytes();
  if (total > limits::kBlobBytesMax) {
    return ErrorReply(id, s.self, wire::ErrorCode::TOO_LARGE,
                      "blob of " + std::to_string(total) + " bytes exceeds the limit of " +
                          std::to_string(limits::kBlobBytesMax));
  }
  if (s.can_write && !s.can_write(principal, *hash, total)) {
    ++s.stats.refused_writes;
    return ErrorReply(id, s.self, wire::ErrorCode::UNAUTHORIZED,
                      "upload of blob " + ToHex(*hash) + " refused (quota or not permitted)");
  }
  MessageBuilder reply(id, s.self);
  auto ack = reply.body().initBlobAck();
  ack.setHash(AsData(*hash));
  if (s.store->Has(*hash)) {
    if (s.can_read && !s.can_read(principal, *hash)) {
      return s.OnProofChunk(principal, *hash, put, id);
    }
    ack.setNextOffset(total);
    ack.setComplete(true);
    return reply;
  }
  const Impl::UploadKey key{principal, *hash};
  auto it = s.uploads.find(key);
  if (it != s.uploads.end() && it->second.declared_bytes != total) {
    s.Close(it, true);  // the sender changed its claim: start over
    it = s.uploads.end();
  }
  if (it == s.uploads.end()) {
    s.MakeRoom(principal, total);
    auto receiver = BlobReceiver::Start(*s.store, *hash, total, ToHex(principal));
    if (!receiver) {
      ++s.stats.failed_uploads;
      return ErrorReply(id, s.self, wire::ErrorCode::INTERNAL, receiver.error().message);
    }
    it = s.uploads.emplace(key, Impl::Upload{std::move(*receiver), total, 0, {}}).first;
    s.declared_bytes += total;
  }
  it->second.last_use = ++s.use_clock;
  it->second.last_active = std::chrono::steady_clock::now();
  auto& receiver = *it->second.receiver;
  auto bytes = Bytes(put.getBytes());
  if (auto status = receiver.OnChunk(put.getOffset(), bytes, total); !status) {
    ++s.stats.failed_uploads;
    s.Close(it, false);  // the receiver already deleted what verification found worthless
    return ErrorReply(id, s.self, wire::ErrorCode::BAD_MESSAGE, status.error().message);
  }
  ++s.stats.chunks_received;
  s.stats.bytes_received += bytes.size();
  ack.setNextOffset(receiver.next_offset());
  ack.setComplete(receiver.complete());
  if (receiver.complete()) {
    s.Close(it, false);
    ++s.stats.blobs_stored;
    if (s.on_stored) s.on_stored(principal, *hash, total);
  }
  return reply;
}

Status PushBlob(TransportClient& client, BlobStore& store, const Hash256& hash,
                std::chrono::milliseconds idle_timeout) {
  auto sender = BlobSender::Start(store, hash);
  if (!sender) return tl::unexpected(sender.error());
  const std::string hex = ToHex(hash);
  while (!(*sender)->done()) {
    auto chunks = (*sender)->NextChunks();
    if (!chunks) return tl::unexpected(chunks.error());
    for (auto& c : *chunks) {
      auto req = client.NewRequest();
      auto put = req.body().initBlobPut();
      put.setHash(AsData(hash));
      put.setOffset(c.offset);
      put.setBytes(AsData(Bytes(c.bytes)));
      put.setTotalSizeBytes((*sender)->total_size_bytes());
      if (auto s = client.Send(req); !s) return s;
    }
    auto reply = client.Recv(idle_timeout);
    if (!reply) return tl::unexpected(reply.error());
    if (!*reply) {
      return Fail("upload of blob " + hex + " stalled: no acknowledgement for " +
                  std::to_string(idle_timeout.count()) + " ms (run again to resume)");
    }
    const Message& m = **reply;
    if (m.kind() == MessageKind::ERROR) return Fail("upload of blob " + hex + " refused: " + ErrorText(m));
    if (m.kind() != MessageKind::BLOB_ACK) continue;
    auto ack = m.body().getBlobAck();
    auto acked = HashFromData(ack.getHash());
    if (!acked || *acked != hash) continue;
    (*sender)->OnAck(ack.getNextOffset(), ack.getComplete());
  }
  return {};
}

Status PullBlob(TransportClient& client, BlobStore& store, const Hash256& hash,
                std::chrono::milliseconds idle_timeout) {
  auto receiver = BlobReceiver::Start(store, hash, std::nullopt);
  if (!receiver) return tl::unexpected(receiver.error());
  const std::string hex = ToHex(hash);
  int timeouts = 0;
  while (!(*receiver)->complete()) {
    for (uint64_t offset : (*receiver)->NextRequests()) {
      auto req = client.NewRequest();
      auto get = req.body().initBlobGet();
      get.setHash(AsData(hash));
      get.setOffset(offset);
      get.setMaxBytes(limits::kBlobChunkBytes);
      if (auto s = client.Send(req); !s) return s;
    }
    auto reply = client.Recv(idle_timeout);
    if (!reply) return tl::unexpected(reply.error());
    if (!*reply) {
      if (++timeouts > limits::kBlobTimeoutsMax) {
        return Fail("download of blob " + hex + " stalled at byte " +
                    std::to_string((*receiver)->next_offset()) + " (run again to resume)");
      }
      (*receiver)->Rewind();
      continue;
    }
    const Message& m = **reply;
    if (m.kind() == MessageKind::ERROR) return Fail("download of blob " + hex + " refused: " + ErrorText(m));
    if (m.kind() != MessageKind::BLOB_CHUNK) continue;
    auto chunk = m.body().getBlobChunk();
    auto got = HashFromData(chunk.getHash());
    if (!got || *got != hash) continue;
    if (auto s = (*receiver)->OnChunk(chunk.getOffset(), Bytes(chunk.getBytes()),
                                      chunk.getTotalSizeBytes());
        !s) {
      return s;
    }
    timeouts = 0;
  }
  return {};
}

}  // namespace plume
