// SQLite persistence for the scheduler core: saves the rows Core::TakeDirty returns, one
// transaction per loop turn, and loads the whole State back after a restart.
//
// Durability: WAL journal. With Sync::kFull (default) every Save is fsynced before it returns,
// so whatever the shell then sends is backed by the disk even across a power cut; the cost is
// one fsync per loop turn, not per task. Sync::kNormal fsyncs only at WAL checkpoints: safe
// against a killed process (SIGKILL), but a power cut may lose the last turns.
// Not thread-safe: one thread owns a Store (SQLite connection without mutex).
#pragma once

#include <filesystem>
#include <memory>

#include "plume/protocol/error.h"
#include "plume/scheduler/core.h"
#include "plume/scheduler/types.h"

namespace plume::scheduler {

enum class Sync : uint8_t { kNormal = 0, kFull = 1 };

class Store {
 public:
  // Opens or creates the database (and its schema). Fails with a message naming the file.
  static Result<Store> Open(const std::filesystem::path& path, Sync sync = Sync::kFull);
  ~Store();
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;

  // Writes all rows in one transaction; on error nothing of it is applied.
  Status Save(const Dirty& dirty);
  // Reads the whole state (empty on a new database).
  Result<State> Load();

 private:
  Store();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace plume::scheduler
