// Small durable-file helpers shared by the agent's on-disk stores.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "plume/protocol/error.h"

namespace plume::agent {

// Writes bytes to path and fsyncs the file (not the directory).
Status WriteFileSynced(const std::filesystem::path& path, std::span<const uint8_t> bytes);
Result<std::vector<uint8_t>> ReadFileBytes(const std::filesystem::path& path);
// fsync a directory so a rename inside it is durable.
Status SyncDir(const std::filesystem::path& dir);

}  // namespace plume::agent
