// Durable-file helpers shared by every component that keeps state a power loss must not take:
// the agent's result spool, and the scheduler's settle receipts, escrow-hold signatures and
// DiLoCo momentum.
//
// "Durable" means the bytes and the directory entry both survive a power cut: the file is
// written to <path>.tmp, fsync'd, renamed over <path>, and the directory is fsync'd. A reader
// therefore sees either the old file (or none) or the whole new one, never a torn or empty one.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "plume/protocol/error.h"

namespace plume {

// Writes bytes to path and fsyncs the file (not the directory).
Status WriteFileSynced(const std::filesystem::path& path, std::span<const uint8_t> bytes);
// Writes <path>.tmp, fsyncs it, renames it to `path` and fsyncs the directory. An error leaves
// any earlier file at `path` as it was.
Status WriteFileDurably(const std::filesystem::path& path, std::span<const uint8_t> bytes);
Result<std::vector<uint8_t>> ReadFileBytes(const std::filesystem::path& path);
// fsync a directory so a rename, create or unlink inside it is durable.
Status SyncDir(const std::filesystem::path& dir);
// Creates `dir` and its missing parents, fsyncing each new directory's parent so the new entry
// survives a power cut.
Status CreateDirsDurably(const std::filesystem::path& dir);

}  // namespace plume
