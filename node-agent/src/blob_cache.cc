// Capped, verified, content-addressed blob cache on the agent's disk (see blob_cache.h).
#include "plume/agent/blob_cache.h"

#include <algorithm>

#include "file_util.h"

namespace plume::agent {
namespace fs = std::filesystem;

Result<BlobCache> BlobCache::Open(const fs::path& dir, uint64_t bytes_max) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail("cannot create blob cache " + dir.string() + ": " + ec.message());
  return BlobCache(dir, bytes_max);
}

fs::path BlobCache::PathOf(const Hash256& hash) const { return dir_ / ToHex(hash); }

Result<Hash256> BlobCache::Put(std::span<const uint8_t> bytes) {
  const Hash256 hash = Blake2b256(bytes);
  if (auto s = PutExpecting(hash, bytes); !s) return tl::unexpected(s.error());
  return hash;
}

Status BlobCache::PutExpecting(const Hash256& expected, std::span<const uint8_t> bytes) {
  if (Blake2b256(bytes) != expected) {
    return Fail("blob " + ToHex(expected) + " failed verification: its bytes hash differently");
  }
  std::error_code ec;
  const fs::path path = PathOf(expected);
  if (fs::exists(path, ec)) {
    fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
    return {};
  }
  const fs::path tmp = dir_ / (".tmp-" + ToHex(expected));
  if (auto s = WriteFileSynced(tmp, bytes); !s) return s;
  fs::rename(tmp, path, ec);
  if (ec) return Fail("cannot store blob in " + dir_.string() + ": " + ec.message());
  EvictToFit(expected);
  return {};
}

std::optional<std::vector<uint8_t>> BlobCache::Get(const Hash256& hash) {
  const fs::path path = PathOf(hash);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;
  auto bytes = ReadFileBytes(path);
  if (!bytes || Blake2b256(*bytes) != hash) {
    fs::remove(path, ec);
    return std::nullopt;
  }
  fs::last_write_time(path, fs::file_time_type::clock::now(), ec);
  return std::move(*bytes);
}

bool BlobCache::Contains(const Hash256& hash) const {
  std::error_code ec;
  return fs::exists(PathOf(hash), ec);
}

uint64_t BlobCache::TotalBytes() const {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    if (e.is_regular_file(ec)) total += e.file_size(ec);
  }
  return total;
}

void BlobCache::EvictToFit(const Hash256& keep) {
  struct Item {
    fs::file_time_type mtime;
    fs::path path;
    uint64_t bytes;
  };
  std::vector<Item> items;
  uint64_t total = 0;
  std::error_code ec;
  const std::string keep_name = ToHex(keep);
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    if (!e.is_regular_file(ec)) continue;
    const uint64_t size = e.file_size(ec);
    total += size;
    if (e.path().filename() == keep_name) continue;
    items.push_back({e.last_write_time(ec), e.path(), size});
  }
  std::sort(items.begin(), items.end(),
            [](const Item& a, const Item& b) { return a.mtime < b.mtime; });
  for (const auto& item : items) {
    if (total <= bytes_max_) break;
    fs::remove(item.path, ec);
    if (!ec) total -= item.bytes;
  }
}

}  // namespace plume::agent
