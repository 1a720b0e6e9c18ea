// Chunked, resumable blob transfer state: BlobReceiver (writes and verifies) and BlobSender
// (reads and keeps the push window). Pure bookkeeping plus file I/O; the caller moves the bytes
// in BlobPut/BlobAck/BlobGet/BlobChunk messages.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <type_traits>

#include <spdlog/spdlog.h>

#include "blob_io.h"
#include "plume/protocol/blob_store.h"
#include "plume/protocol/limits.h"

namespace plume {
namespace fs = std::filesystem;
namespace {

// The resume state beside a partial file: the running hash after the first `offset` bytes, so a
// resumed upload need not read and hash them again. Layout: magic, offset (u64), the hasher's
// bytes, then BLAKE2b-256 of all that (a torn or foreign file is ignored, never trusted). The
// hasher's bytes are libsodium's state: a state saved by another libsodium build could hash
// wrongly, and then the final verification fails and the upload starts over; nothing is
// stored on its word.
static_assert(std::is_trivially_copyable_v<Hasher>, "the hash state is saved as bytes");
constexpr char kResumeMagic[8] = {'p', 'l', 'u', 'm', 'e', 'h', 's', '1'};

fs::path ResumePath(const fs::path& partial) { return fs::path(partial.string() + ".hash"); }

void SaveResumeState(const fs::path& partial, uint64_t offset, const Hasher& hasher) {
  std::string bytes(kResumeMagic, sizeof kResumeMagic);
  bytes.append(reinterpret_cast<const char*>(&offset), sizeof offset);
  bytes.append(reinterpret_cast<const char*>(&hasher), sizeof hasher);
  const Hash256 check = Blake2b256(bytes);
  bytes.append(reinterpret_cast<const char*>(check.data()), check.size());
  const fs::path path = ResumePath(partial);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;  // only a shortcut: without it a resume re-sends more
  (void)detail::WriteAll(fd, reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), 0,
                         path);
  ::close(fd);
}

struct ResumeState {
  uint64_t offset = 0;
  Hasher hasher;
};

std::optional<ResumeState> LoadResumeState(const fs::path& partial, uint64_t have) {
  const fs::path path = ResumePath(partial);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  constexpr size_t kBody = sizeof kResumeMagic + sizeof(uint64_t) + sizeof(Hasher);
  struct stat st {};
  const bool right_size = ::fstat(fd, &st) == 0 && st.st_size == kBody + sizeof(Hash256);
  auto bytes = right_size ? detail::ReadAt(fd, 0, kBody + sizeof(Hash256), path)
                          : Result<std::string>(Fail("resume state of another size"));
  ::close(fd);
  if (!bytes ||
      std::memcmp(bytes->data(), kResumeMagic, sizeof kResumeMagic) != 0) {
    return std::nullopt;
  }
  const Hash256 check = Blake2b256(std::string_view(bytes->data(), kBody));
  if (std::memcmp(check.data(), bytes->data() + kBody, check.size()) != 0) return std::nullopt;
  ResumeState r;
  std::memcpy(&r.offset, bytes->data() + sizeof kResumeMagic, sizeof r.offset);
  std::memcpy(&r.hasher, bytes->data() + sizeof kResumeMagic + sizeof r.offset, sizeof r.hasher);
  if (r.offset > have) return std::nullopt;  // the partial lost bytes (power cut): not this one
  return r;
}

}  // namespace

struct BlobReceiver::Impl {
  BlobStore* store = nullptr;
  Hash256 hash{};
  fs::path partial;
  int fd = -1;
  std::optional<uint64_t> total;
  uint64_t next_offset = 0;
  uint64_t requested_upto = 0;
  Hasher hasher;
  uint64_t state_saved_at = 0;  // next_offset when the resume state was last saved
  bool complete = false;

  ~Impl() {
    if (fd >= 0) ::close(fd);
  }
  // Forget the partial file: after a failed verification the bytes are worthless.
  void Restart() {
    if (fd >= 0) ::close(fd);
    fd = -1;
    std::error_code ec;
    fs::remove(partial, ec);
    fs::remove(ResumePath(partial), ec);
    next_offset = requested_upto = state_saved_at = 0;
    hasher = Hasher();
  }
  Status Finish();
};

BlobReceiver::BlobReceiver(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

void BlobReceiver::Discard() {
  if (!impl_->complete) impl_->Restart();
}
BlobReceiver::~BlobReceiver() = default;

Result<std::unique_ptr<BlobReceiver>> BlobReceiver::Start(BlobStore& store, const Hash256& hash,
                                                          std::optional<uint64_t> total_size_bytes,
                                                          std::string_view owner) {
  auto impl = std::make_unique<Impl>();
  impl->store = &store;
  impl->hash = hash;
  impl->total = total_size_bytes;
  impl->partial = store.PartialPath(hash, owner);
  if (total_size_bytes && *total_size_bytes > limits::kBlobBytesMax) {
    return Fail("blob of " + std::to_string(*total_size_bytes) + " bytes exceeds the limit of " +
                std::to_string(limits::kBlobBytesMax));
  }
  if (auto size = store.SizeOf(hash)) {
    impl->complete = true;
    impl->total = impl->next_offset = *size;
    return std::unique_ptr<BlobReceiver>(new BlobReceiver(std::move(impl)));
  }
  impl->fd = ::open(impl->partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (impl->fd < 0) return Fail(detail::Errno("cannot open partial blob", impl->partial));
  struct stat st {};
  ::fstat(impl->fd, &st);
  uint64_t have = static_cast<uint64_t>(st.st_size);
  if (impl->total && have > *impl->total) {
    impl->Restart();
    return Start(store, hash, total_size_bytes, owner);
  }
  // Resume: the bytes on disk are part of the hash. Start from the saved state, if any, and hash
  // only the tail past it, within a bound (limits.h); a longer tail is cut and sent again.
  uint64_t from = 0;
  if (auto saved = LoadResumeState(impl->partial, have)) {
    from = saved->offset;
    impl->hasher = saved->hasher;
  }
  if (have - from > limits::kBlobResumeRehashBytesMax) {
    if (::ftruncate(impl->fd, static_cast<off_t>(from)) != 0) {
      return Fail(detail::Errno("cannot cut partial blob", impl->partial));
    }
    spdlog::info("blob {}: {} unhashed bytes of the partial copy dropped; they are sent again",
                 ToHex(hash), have - from);
    have = from;
  }
  for (uint64_t off = from; off < have; off += limits::kBlobChunkBytes) {
    size_t len = static_cast<size_t>(std::min<uint64_t>(limits::kBlobChunkBytes, have - off));
    auto bytes = detail::ReadAt(impl->fd, off, len, impl->partial);
    if (!bytes) return tl::unexpected(bytes.error());
    impl->hasher.Update(*bytes);
  }
  impl->state_saved_at = from;
  impl->next_offset = impl->requested_upto = have;
  if (have > 0) spdlog::info("blob {}: resuming at byte {}", ToHex(hash), have);
  auto receiver = std::unique_ptr<BlobReceiver>(new BlobReceiver(std::move(impl)));
  if (receiver->impl_->total && have == *receiver->impl_->total) {
    if (auto s = receiver->impl_->Finish(); !s) return tl::unexpected(s.error());
  }
  return receiver;
}

Status BlobReceiver::Impl::Finish() {
  if (::fsync(fd) != 0) return Fail(detail::Errno("cannot fsync", partial));
  Hash256 got = hasher.Final();
  if (got != hash) {
    Restart();
    return Fail("blob " + ToHex(hash) + " failed verification: the received bytes hash to " +
                ToHex(got) + "; the partial copy was deleted and the transfer starts over");
  }
  ::close(fd);
  fd = -1;
  if (auto s = store->Adopt(partial, hash, *total); !s) return s;
  std::error_code ec;
  fs::remove(ResumePath(partial), ec);
  complete = true;
  return {};
}

Status BlobReceiver::OnChunk(uint64_t offset, std::span<const uint8_t> bytes,
                             uint64_t total_size_bytes) {
  auto& s = *impl_;
  if (s.complete) return {};
  if (bytes.size() > limits::kBlobChunkBytes) {
    return Fail("blob chunk of " + std::to_string(bytes.size()) + " bytes exceeds the limit of " +
                std::to_string(limits::kBlobChunkBytes));
  }
  if (total_size_bytes > limits::kBlobBytesMax) {
    return Fail("blob of " + std::to_string(total_size_bytes) + " bytes exceeds the limit of " +
                std::to_string(limits::kBlobBytesMax));
  }
  if (s.total && *s.total != total_size_bytes) {
    return Fail("blob " + ToHex(s.hash) + " changed its size from " + std::to_string(*s.total) +
                " to " + std::to_string(total_size_bytes) + " bytes mid-transfer");
  }
  if (!s.total && s.next_offset > total_size_bytes) {
    s.Restart();  // a partial from an earlier, different claim; start clean
    s.fd = ::open(s.partial.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (s.fd < 0) return Fail(detail::Errno("cannot open partial blob", s.partial));
  }
  s.total = total_size_bytes;
  if (offset != s.next_offset) return {};  // duplicate or gap: the sender rewinds to next_offset
  if (offset + bytes.size() > total_size_bytes) {
    return Fail("blob chunk at " + std::to_string(offset) + " runs past the blob's size of " +
                std::to_string(total_size_bytes) + " bytes");
  }
  if (!bytes.empty()) {
    if (auto w = detail::WriteAll(s.fd, bytes.data(), bytes.size(), offset, s.partial); !w) return w;
    s.hasher.Update(bytes);
    s.next_offset += bytes.size();
    if (s.next_offset - s.state_saved_at >= limits::kBlobResumeStateEveryBytes) {
      // The saved hash vouches for the bytes before next_offset: they must be on disk first.
      if (::fdatasync(s.fd) != 0) return Fail(detail::Errno("cannot sync", s.partial));
      SaveResumeState(s.partial, s.next_offset, s.hasher);
      s.state_saved_at = s.next_offset;
    }
  }
  if (s.next_offset == *s.total) return s.Finish();
  return {};
}

uint64_t BlobReceiver::next_offset() const { return impl_->next_offset; }
std::optional<uint64_t> BlobReceiver::total_size_bytes() const { return impl_->total; }
bool BlobReceiver::complete() const { return impl_->complete; }

std::vector<uint64_t> BlobReceiver::NextRequests() {
  auto& s = *impl_;
  std::vector<uint64_t> out;
  if (s.complete) return out;
  s.requested_upto = std::max(s.requested_upto, s.next_offset);
  if (!s.total) {
    // Until the first chunk tells the size, ask for one chunk only.
    if (s.requested_upto == s.next_offset) {
      out.push_back(s.next_offset);
      s.requested_upto = s.next_offset + limits::kBlobChunkBytes;
    }
    return out;
  }
  const uint64_t window_end =
      std::min(*s.total, s.next_offset + uint64_t{limits::kBlobWindowChunks} * limits::kBlobChunkBytes);
  while (s.requested_upto < window_end) {
    out.push_back(s.requested_upto);
    s.requested_upto = std::min(*s.total, s.requested_upto + limits::kBlobChunkBytes);
  }
  return out;
}

void BlobReceiver::Rewind() { impl_->requested_upto = impl_->next_offset; }

struct BlobSender::Impl {
  Hash256 hash{};
  fs::path path;
  int fd = -1;
  uint64_t total = 0;
  bool probed = false;     // the first NextChunks sends an empty probe to learn the resume point
  bool acked_once = false;
  uint64_t acked = 0;      // receiver holds [0, acked)
  uint64_t sent_upto = 0;
  bool done = false;

  ~Impl() {
    if (fd >= 0) ::close(fd);
  }
};

BlobSender::BlobSender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BlobSender::~BlobSender() = default;

Result<std::unique_ptr<BlobSender>> BlobSender::Start(BlobStore& store, const Hash256& hash) {
  auto size = store.SizeOf(hash);
  if (!size) return tl::unexpected(size.error());
  auto impl = std::make_unique<Impl>();
  impl->hash = hash;
  impl->total = *size;
  impl->path = store.PathOf(hash);
  // Holding the descriptor keeps the bytes readable even if the cache evicts the file meanwhile.
  impl->fd = ::open(impl->path.c_str(), O_RDONLY | O_CLOEXEC);
  if (impl->fd < 0) return Fail(detail::Errno("cannot open blob", impl->path));
  return std::unique_ptr<BlobSender>(new BlobSender(std::move(impl)));
}

uint64_t BlobSender::total_size_bytes() const { return impl_->total; }
bool BlobSender::done() const { return impl_->done; }

Result<BlobSender::Chunk> BlobSender::ChunkAt(uint64_t offset, uint32_t max_bytes) {
  auto& s = *impl_;
  if (offset > s.total) {
    return Fail("offset " + std::to_string(offset) + " is past the end of blob " + ToHex(s.hash) +
                " (" + std::to_string(s.total) + " bytes)");
  }
  uint64_t cap = (max_bytes == 0 || max_bytes > limits::kBlobChunkBytes) ? limits::kBlobChunkBytes
                                                                         : max_bytes;
  size_t len = static_cast<size_t>(std::min(cap, s.total - offset));
  auto bytes = detail::ReadAt(s.fd, offset, len, s.path);
  if (!bytes) return tl::unexpected(bytes.error());
  return Chunk{offset, std::move(*bytes)};
}

Result<std::vector<BlobSender::Chunk>> BlobSender::NextChunks() {
  auto& s = *impl_;
  std::vector<Chunk> out;
  if (s.done) return out;
  if (!s.probed) {
    s.probed = true;
    out.push_back(Chunk{0, std::string()});
    return out;
  }
  if (!s.acked_once) return out;  // wait for the probe's answer
  const uint64_t window_end =
      std::min(s.total, s.acked + uint64_t{limits::kBlobWindowChunks} * limits::kBlobChunkBytes);
  while (s.sent_upto < window_end) {
    auto chunk = ChunkAt(s.sent_upto, limits::kBlobChunkBytes);
    if (!chunk) return tl::unexpected(chunk.error());
    s.sent_upto += chunk->bytes.size();
    out.push_back(std::move(*chunk));
  }
  return out;
}

void BlobSender::OnAck(uint64_t next_offset, bool complete) {
  auto& s = *impl_;
  if (complete) {
    s.done = true;
    return;
  }
  next_offset = std::min(next_offset, s.total);
  // In-order delivery makes every accepted chunk advance the ack; an ack that does not advance
  // means the receiver skipped a chunk (or restarted), so resend from where it stands.
  if (!s.acked_once || next_offset <= s.acked) s.sent_upto = next_offset;
  s.acked_once = true;
  s.acked = next_offset;
  s.sent_upto = std::max(s.sent_upto, s.acked);
}

}  // namespace plume
