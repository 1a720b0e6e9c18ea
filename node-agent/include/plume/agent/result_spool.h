// Finished task results that the scheduler has not yet acknowledged, kept on disk so a lost
// scheduler (or a restarted agent) loses nothing: the agent re-sends every entry until the
// scheduler acknowledges it, then removes it.
//
// Layout: <dir>/<key>/{result.bin, meta.json}. An entry is written in <dir>/.tmp-<key> and
// renamed into place after fsync, so a crash leaves either the whole entry or nothing.
// Not thread-safe: one owner (the agent's reactor thread).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "plume/protocol/error.h"

namespace plume::agent {

struct SpoolEntry {
  std::string key;                 // e.g. "<task id>-<attempt>"
  std::vector<uint8_t> result;     // the result blob bytes (safetensors delta / JSONL)
  std::string meta_json;           // what the agent needs to rebuild its TaskResult message
};

class ResultSpool {
 public:
  // Creates dir when missing.
  static Result<ResultSpool> Open(const std::filesystem::path& dir);

  // Durably stores an entry; replaces an existing entry with the same key.
  Status Put(const SpoolEntry& entry);
  // All complete entries, oldest first (by key order of completion); torn temporaries are
  // deleted.
  Result<std::vector<SpoolEntry>> List() const;
  // Keys of the complete entries, oldest first, without reading their bytes (heartbeats list
  // them every few seconds).
  std::vector<std::string> Keys() const;
  Result<SpoolEntry> Get(const std::string& key) const;
  bool Contains(const std::string& key) const;
  // Removing a key that is not there is fine (an acknowledgement may arrive twice).
  Status Remove(const std::string& key);
  size_t Size() const;

  const std::filesystem::path& dir() const { return dir_; }

 private:
  explicit ResultSpool(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
};

// Keys become directory names; only [A-Za-z0-9._-] (not starting with '.') is accepted.
bool IsValidSpoolKey(const std::string& key);

}  // namespace plume::agent
