// The agent's outbox of finished results, on disk so they survive a lost scheduler or a
// restarted agent. See result_spool.h for the layout and the crash argument.
#include "plume/agent/result_spool.h"

#include <algorithm>

#include "plume/protocol/file_util.h"

namespace plume::agent {
namespace fs = std::filesystem;

namespace {
constexpr const char* kResultFile = "result.bin";
constexpr const char* kMetaFile = "meta.json";
constexpr const char* kTmpPrefix = ".tmp-";
}  // namespace

bool IsValidSpoolKey(const std::string& key) {
  if (key.empty() || key.size() > 200 || key[0] == '.') return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-';
  });
}

Result<ResultSpool> ResultSpool::Open(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Fail("cannot create result spool " + dir.string() + ": " + ec.message());
  return ResultSpool(dir);
}

Status ResultSpool::Put(const SpoolEntry& entry) {
  if (!IsValidSpoolKey(entry.key)) return Fail("invalid result spool key '" + entry.key + "'");
  std::error_code ec;
  const fs::path tmp = dir_ / (std::string(kTmpPrefix) + entry.key);
  fs::remove_all(tmp, ec);
  fs::create_directory(tmp, ec);
  if (ec) return Fail("cannot create " + tmp.string() + ": " + ec.message());
  if (auto s = WriteFileSynced(tmp / kResultFile, entry.result); !s) return s;
  const auto* meta = reinterpret_cast<const uint8_t*>(entry.meta_json.data());
  if (auto s = WriteFileSynced(tmp / kMetaFile, {meta, entry.meta_json.size()}); !s) return s;
  if (auto s = SyncDir(tmp); !s) return s;
  const fs::path final_dir = dir_ / entry.key;
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) return Fail("cannot move " + tmp.string() + " into place: " + ec.message());
  return SyncDir(dir_);
}

Result<SpoolEntry> ResultSpool::Get(const std::string& key) const {
  if (!IsValidSpoolKey(key)) return Fail("invalid result spool key '" + key + "'");
  auto result = ReadFileBytes(dir_ / key / kResultFile);
  if (!result) return tl::unexpected(result.error());
  auto meta = ReadFileBytes(dir_ / key / kMetaFile);
  if (!meta) return tl::unexpected(meta.error());
  return SpoolEntry{key, std::move(*result), std::string(meta->begin(), meta->end())};
}

Result<std::vector<SpoolEntry>> ResultSpool::List() const {
  std::vector<std::pair<fs::file_time_type, std::string>> keys;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind(kTmpPrefix, 0) == 0) {
      // A crash between writing and renaming: the result was never complete, drop it.
      std::error_code rm;
      fs::remove_all(e.path(), rm);
      continue;
    }
    if (!e.is_directory() || !IsValidSpoolKey(name)) continue;
    keys.emplace_back(fs::last_write_time(e.path(), ec), name);
  }
  if (ec) return Fail("cannot list result spool " + dir_.string() + ": " + ec.message());
  std::sort(keys.begin(), keys.end());
  std::vector<SpoolEntry> out;
  for (const auto& [t, key] : keys) {
    auto entry = Get(key);
    if (!entry) return tl::unexpected(entry.error());
    out.push_back(std::move(*entry));
  }
  return out;
}

std::vector<std::string> ResultSpool::Keys() const {
  std::vector<std::pair<fs::file_time_type, std::string>> keys;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || !IsValidSpoolKey(name)) continue;
    if (!fs::exists(e.path() / kMetaFile, ec)) continue;
    keys.emplace_back(fs::last_write_time(e.path(), ec), name);
  }
  std::sort(keys.begin(), keys.end());
  std::vector<std::string> out;
  for (auto& [t, key] : keys) out.push_back(std::move(key));
  return out;
}

bool ResultSpool::Contains(const std::string& key) const {
  std::error_code ec;
  return IsValidSpoolKey(key) && fs::exists(dir_ / key / kMetaFile, ec);
}

Status ResultSpool::Remove(const std::string& key) {
  if (!IsValidSpoolKey(key)) return Fail("invalid result spool key '" + key + "'");
  std::error_code ec;
  fs::remove_all(dir_ / key, ec);
  if (ec) return Fail("cannot remove " + (dir_ / key).string() + ": " + ec.message());
  return {};
}

size_t ResultSpool::Size() const {
  size_t n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (e.is_directory() && IsValidSpoolKey(name)) ++n;
  }
  return n;
}

}  // namespace plume::agent
