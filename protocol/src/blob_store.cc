// Content-addressed blob store on a local directory, with atomic writes and an optional LRU cap.
#include "plume/protocol/blob_store.h"

#include "plume/protocol/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>

#include <sodium.h>
#include <spdlog/spdlog.h>

#include "blob_io.h"

namespace plume {
namespace fs = std::filesystem;

namespace detail {

std::string Errno(const std::string& what, const fs::path& path) {
  return what + " " + path.string() + ": " + std::strerror(errno) +
         (errno == ENOSPC ? " (free some disk space and retry)" : "");
}

Status WriteAll(int fd, const uint8_t* data, size_t size, uint64_t offset, const fs::path& path) {
  while (size > 0) {
    ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(Errno("cannot write", path));
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return {};
}

Result<std::string> ReadAt(int fd, uint64_t offset, size_t length, const fs::path& path) {
  std::string out(length, '\0');
  size_t done = 0;
  while (done < length) {
    ssize_t n = ::pread(fd, out.data() + done, length - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(Errno("cannot read", path));
    }
    if (n == 0) return Fail("blob file " + path.string() + " is shorter than expected (truncated?)");
    done += static_cast<size_t>(n);
  }
  return out;
}

Status FsyncDir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd < 0) return Fail(Errno("cannot open directory", dir));
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return Fail(Errno("cannot fsync directory", dir));
  return {};
}

}  // namespace detail

namespace {
int64_t UnixMsNow() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct BlobStore::Impl {
  fs::path dir;
  BlobStoreOptions options;
  mutable std::mutex mu;
  struct Entry {
    uint64_t size_bytes;
    std::list<std::string>::iterator lru;  // position in `lru`, front = most recently used
    int64_t stored_unix_ms;                // StoredBlobInfo: not moved by reads, unlike `lru`
  };
  std::unordered_map<std::string, Entry> index;  // hex -> entry
  std::list<std::string> lru;
  std::unordered_map<std::string, int> pins;
  uint64_t used_bytes = 0;
  uint64_t evicted = 0;

  fs::path PathOf(const std::string& hex) const { return dir / hex.substr(0, 2) / hex.substr(2); }
  void TouchLocked(Entry& e, const std::string& hex) {
    lru.erase(e.lru);
    lru.push_front(hex);
    e.lru = lru.begin();
  }
  void InsertLocked(const std::string& hex, uint64_t size, int64_t stored_unix_ms) {
    lru.push_front(hex);
    index[hex] = Entry{size, lru.begin(), stored_unix_ms};
    used_bytes += size;
  }
  void EraseLocked(const std::string& hex) {
    auto it = index.find(hex);
    if (it == index.end()) return;
    used_bytes -= it->second.size_bytes;
    lru.erase(it->second.lru);
    index.erase(it);
  }
  // The same bytes stored again count as new for retention, here and (through the file's mtime)
  // after a restart.
  void RestoredLocked(Entry& e, const std::string& hex) {
    e.stored_unix_ms = UnixMsNow();
    ::utimensat(AT_FDCWD, PathOf(hex).c_str(), nullptr, 0);  // best effort: only a restart needs it
  }
  // Drops least recently used, unpinned blobs (never `keep`) until the cap holds.
  void EvictLocked(const std::string& keep) {
    if (options.capacity_bytes == 0) return;
    auto it = lru.end();
    while (used_bytes > options.capacity_bytes && it != lru.begin()) {
      --it;
      const std::string hex = *it;
      if (hex == keep || pins.contains(hex)) continue;
      auto next = it;  // erase invalidates `it`; continue from the element after it
      ++next;
      std::error_code ec;
      fs::remove(PathOf(hex), ec);
      EraseLocked(hex);
      ++evicted;
      it = next;
    }
    if (used_bytes > options.capacity_bytes) {
      spdlog::warn("blob cache over its cap: {} bytes used, cap {} (the rest is pinned)",
                   used_bytes, options.capacity_bytes);
    }
  }
};

BlobStore::BlobStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
BlobStore::~BlobStore() = default;

Result<std::unique_ptr<BlobStore>> BlobStore::Open(const fs::path& dir, BlobStoreOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->options = options;
  std::error_code ec;
  for (const auto& sub : {dir, dir / "tmp", dir / "partial"}) {
    fs::create_directories(sub, ec);
    if (ec) return Fail("cannot create blob directory " + sub.string() + ": " + ec.message());
  }
  // Leftovers of interrupted Puts are garbage; partial transfers are kept for resuming.
  for (const auto& e : fs::directory_iterator(dir / "tmp", ec)) fs::remove(e.path(), ec);
  struct Found {
    std::string hex;
    uint64_t size;
    fs::file_time_type mtime;
  };
  std::vector<Found> found;
  for (const auto& sub : fs::directory_iterator(dir, ec)) {
    auto prefix = sub.path().filename().string();
    if (!sub.is_directory() || prefix.size() != 2) continue;
    for (const auto& f : fs::directory_iterator(sub.path(), ec)) {
      std::string hex = prefix + f.path().filename().string();
      if (!f.is_regular_file() || !HashFromHex(hex)) continue;
      found.push_back({hex, static_cast<uint64_t>(f.file_size(ec)), f.last_write_time(ec)});
    }
  }
  if (ec) return Fail("cannot index blob directory " + dir.string() + ": " + ec.message());
  std::sort(found.begin(), found.end(), [](auto& a, auto& b) { return a.mtime < b.mtime; });
  for (const auto& f : found) {
    const auto sys = std::chrono::file_clock::to_sys(f.mtime);
    impl->InsertLocked(
        f.hex, f.size,
        std::chrono::duration_cast<std::chrono::milliseconds>(sys.time_since_epoch()).count());
  }
  impl->EvictLocked("");
  return std::unique_ptr<BlobStore>(new BlobStore(std::move(impl)));
}

Result<Hash256> BlobStore::Put(std::span<const uint8_t> bytes) {
  Hash256 hash = Blake2b256(bytes);
  std::string hex = ToHex(hash);
  {
    std::lock_guard lock(impl_->mu);
    if (auto it = impl_->index.find(hex); it != impl_->index.end()) {
      impl_->TouchLocked(it->second, hex);
      impl_->RestoredLocked(it->second, hex);
      return hash;
    }
  }
  uint8_t rnd[8];
  randombytes_buf(rnd, sizeof(rnd));
  fs::path tmp = impl_->dir / "tmp" / (hex + "." + ToHex(rnd));
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(detail::Errno("cannot create", tmp));
  auto written = detail::WriteAll(fd, bytes.data(), bytes.size(), 0, tmp);
  if (written && ::fsync(fd) != 0) written = Fail(detail::Errno("cannot fsync", tmp));
  ::close(fd);
  if (written) written = Adopt(tmp, hash, bytes.size());
  if (!written) {
    std::error_code ec;
    fs::remove(tmp, ec);
    return tl::unexpected(written.error());
  }
  return hash;
}

Result<Hash256> BlobStore::Put(std::string_view bytes) {
  return Put(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

Status BlobStore::Adopt(const fs::path& file, const Hash256& hash, uint64_t size_bytes) {
  std::string hex = ToHex(hash);
  fs::path final_path = impl_->PathOf(hex);
  // A new fan-out directory's own entry must be durable too, or a power cut takes the blob
  // (an acknowledged result, a round's parameters) with it although the blob was fsync'd.
  if (auto st = CreateDirsDurably(final_path.parent_path()); !st) return st;
  if (::rename(file.c_str(), final_path.c_str()) != 0) {
    return Fail(detail::Errno("cannot move blob into place at", final_path));
  }
  if (auto s = detail::FsyncDir(final_path.parent_path()); !s) return s;
  std::lock_guard lock(impl_->mu);
  if (auto it = impl_->index.find(hex); it != impl_->index.end()) {
    impl_->TouchLocked(it->second, hex);  // stored again (or two writers raced): same bytes
    impl_->RestoredLocked(it->second, hex);
  } else {
    impl_->InsertLocked(hex, size_bytes, UnixMsNow());
  }
  impl_->EvictLocked(hex);
  return {};
}

Result<std::string> BlobStore::Get(const Hash256& hash) {
  std::string hex = ToHex(hash);
  fs::path path = impl_->PathOf(hex);
  uint64_t size = 0;
  {
    std::lock_guard lock(impl_->mu);
    auto it = impl_->index.find(hex);
    if (it == impl_->index.end()) return Fail("blob " + hex + " not found");
    size = it->second.size_bytes;
    impl_->TouchLocked(it->second, hex);
  }
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(detail::Errno("cannot open blob", path));
  auto bytes = detail::ReadAt(fd, 0, size, path);
  ::close(fd);
  if (!bytes) return bytes;
  if (Blake2b256(*bytes) != hash) {
    return Fail("blob " + hex + " is corrupt on disk (its bytes hash to " +
                ToHex(Blake2b256(*bytes)) + "); remove it and fetch it again");
  }
  return bytes;
}

Result<std::string> BlobStore::ReadRange(const Hash256& hash, uint64_t offset, uint64_t length) {
  auto size = SizeOf(hash);
  if (!size) return tl::unexpected(size.error());
  if (offset > *size) return Fail("offset " + std::to_string(offset) + " is past the end of blob " + ToHex(hash));
  length = std::min(length, *size - offset);
  fs::path path = PathOf(hash);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(detail::Errno("cannot open blob", path));
  auto bytes = detail::ReadAt(fd, offset, length, path);
  ::close(fd);
  return bytes;
}

bool BlobStore::Has(const Hash256& hash) const {
  std::lock_guard lock(impl_->mu);
  return impl_->index.contains(ToHex(hash));
}

Result<uint64_t> BlobStore::SizeOf(const Hash256& hash) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->index.find(ToHex(hash));
  if (it == impl_->index.end()) return Fail("blob " + ToHex(hash) + " not found");
  return it->second.size_bytes;
}

Status BlobStore::Remove(const Hash256& hash) {
  std::string hex = ToHex(hash);
  std::error_code ec;
  fs::remove(impl_->PathOf(hex), ec);
  std::lock_guard lock(impl_->mu);
  impl_->EraseLocked(hex);
  if (ec) return Fail("cannot remove blob " + hex + ": " + ec.message());
  return {};
}

std::vector<StoredBlobInfo> BlobStore::List() const {
  std::lock_guard lock(impl_->mu);
  std::vector<StoredBlobInfo> out;
  out.reserve(impl_->index.size());
  for (const auto& [hex, e] : impl_->index) {
    if (auto h = HashFromHex(hex)) out.push_back({*h, e.size_bytes, e.stored_unix_ms});
  }
  return out;
}

fs::path BlobStore::PathOf(const Hash256& hash) const { return impl_->PathOf(ToHex(hash)); }
fs::path BlobStore::PartialPath(const Hash256& hash, std::string_view owner) const {
  std::string name = ToHex(hash);
  if (!owner.empty()) name += "." + std::string(owner);
  return impl_->dir / "partial" / (name + ".part");
}

void BlobStore::Pin(const Hash256& hash) {
  std::lock_guard lock(impl_->mu);
  ++impl_->pins[ToHex(hash)];
}

void BlobStore::Unpin(const Hash256& hash) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->pins.find(ToHex(hash));
  if (it == impl_->pins.end()) return;
  if (--it->second <= 0) impl_->pins.erase(it);
  impl_->EvictLocked("");
}

Result<uint64_t> BlobStore::RemovePartialsOlderThan(std::chrono::seconds age) {
  std::error_code ec;
  const auto cutoff = fs::file_time_type::clock::now() - age;
  uint64_t removed = 0;
  for (const auto& e : fs::directory_iterator(impl_->dir / "partial", ec)) {
    std::error_code entry_ec;
    if (e.last_write_time(entry_ec) < cutoff && !entry_ec && fs::remove(e.path(), entry_ec)) ++removed;
  }
  if (ec) return Fail("cannot list partial blobs in " + (impl_->dir / "partial").string() + ": " + ec.message());
  return removed;
}

uint64_t BlobStore::used_bytes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->used_bytes;
}

uint64_t BlobStore::evicted_blobs() const {
  std::lock_guard lock(impl_->mu);
  return impl_->evicted;
}

const fs::path& BlobStore::dir() const { return impl_->dir; }

}  // namespace plume
