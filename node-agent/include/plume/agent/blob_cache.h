// The agent's cache of input blobs (datasets, round parameters, checkpoints), keyed by their
// BLAKE2b-256 hash and capped in bytes. A blob is verified against its hash when stored and
// when read back, so a corrupt file is a cache miss, never wrong training data.
// Eviction drops the least recently used blobs (file mtime, touched on every read) until the
// total fits the cap. Not thread-safe: one owner (the agent's reactor thread).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"

namespace plume::agent {

class BlobCache {
 public:
  static Result<BlobCache> Open(const std::filesystem::path& dir, uint64_t bytes_max);

  // Stores bytes under their hash (no-op when present) and evicts others to fit the cap. A blob
  // larger than the cap is still stored (the task needs it) and everything else is evicted.
  Result<Hash256> Put(std::span<const uint8_t> bytes);
  // Verifies expected hash; fails when the bytes do not hash to it.
  Status PutExpecting(const Hash256& expected, std::span<const uint8_t> bytes);
  // nullopt when absent or corrupt (a corrupt file is removed).
  std::optional<std::vector<uint8_t>> Get(const Hash256& hash);
  bool Contains(const Hash256& hash) const;
  uint64_t TotalBytes() const;
  uint64_t bytes_max() const { return bytes_max_; }

 private:
  BlobCache(std::filesystem::path dir, uint64_t bytes_max)
      : dir_(std::move(dir)), bytes_max_(bytes_max) {}
  void EvictToFit(const Hash256& keep);
  std::filesystem::path PathOf(const Hash256& hash) const;

  std::filesystem::path dir_;
  uint64_t bytes_max_;
};

}  // namespace plume::agent
