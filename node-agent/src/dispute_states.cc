// On-disk training states for disputes (dispute_states.h).
#include "dispute_states.h"

#include <algorithm>
#include <cstring>

#include "plume/agent/limits.h"
#include "plume/protocol/file_util.h"
#include "plume/verify/audit.h"
#include "plume/verify/state_codec.h"

namespace plume::agent {
namespace {

std::filesystem::path LinkPath(const std::filesystem::path& dir, size_t link) {
  return dir / ("link-" + std::to_string(link) + ".state");
}

// Task keys come from our own SpoolKey ("<task>-<attempt>"); anything that could leave the root
// directory is refused rather than trusted.
bool SafeKey(const std::string& key) {
  return !key.empty() && key.size() <= 128 && std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

}  // namespace

std::vector<std::string> TasksToPrune(std::vector<KeptTask> tasks, std::chrono::seconds retention,
                                      size_t tasks_max) {
  std::sort(tasks.begin(), tasks.end(), [](const KeptTask& a, const KeptTask& b) {
    return a.age != b.age ? a.age > b.age : a.key < b.key;  // oldest first
  });
  std::vector<std::string> out;
  size_t left = tasks.size();
  for (const auto& t : tasks) {
    if (t.age <= retention && left <= tasks_max) break;
    out.push_back(t.key);
    --left;
  }
  return out;
}

Status DisputeStates::Put(const std::string& key, size_t link, const kernels::TrainState& s) {
  if (!SafeKey(key)) return Fail("dispute state: bad task key '" + key + "'");
  if (link >= static_cast<size_t>(verify::kMaxCommitmentLinks)) {
    return Fail("dispute state: link " + std::to_string(link) + " is beyond the chain's " +
                std::to_string(verify::kMaxCommitmentLinks) + " links");
  }
  auto bytes = verify::EncodeState(s);
  if (!bytes) return Fail("dispute state: " + bytes.error().message);
  const auto dir = root_ / key;
  if (auto st = CreateDirsDurably(dir); !st) return st;
  return WriteFileDurably(LinkPath(dir, link), *bytes);
}

Result<std::vector<uint8_t>> DisputeStates::GetBytes(const std::string& key, size_t link) const {
  if (!SafeKey(key)) return Fail("dispute state: bad task key '" + key + "'");
  if (link >= static_cast<size_t>(verify::kMaxCommitmentLinks)) {
    return Fail("dispute state: no link " + std::to_string(link));
  }
  return ReadFileBytes(LinkPath(root_ / key, link));
}

Result<kernels::TrainState> DisputeStates::Get(const std::string& key, size_t link) const {
  auto bytes = GetBytes(key, link);
  if (!bytes) return tl::unexpected(bytes.error());
  auto s = verify::DecodeState(*bytes);
  if (!s) {
    return Fail("dispute state of " + key + " link " + std::to_string(link) + ": " +
                s.error().message);
  }
  return std::move(*s);
}

Status DisputeStates::Forget(const std::string& key) {
  if (!SafeKey(key)) return Fail("dispute state: bad task key '" + key + "'");
  std::error_code ec;
  std::filesystem::remove_all(root_ / key, ec);
  if (ec) return Fail("cannot delete " + (root_ / key).string() + ": " + ec.message());
  return {};
}

Result<size_t> DisputeStates::Prune(std::chrono::seconds retention, size_t tasks_max) {
  std::error_code ec;
  if (!std::filesystem::exists(root_, ec)) return size_t{0};
  std::vector<KeptTask> tasks;
  const auto now = std::filesystem::file_time_type::clock::now();
  for (const auto& entry : std::filesystem::directory_iterator(root_, ec)) {
    if (!entry.is_directory()) continue;
    const auto written = std::filesystem::last_write_time(entry.path(), ec);
    if (ec) continue;
    tasks.push_back({entry.path().filename().string(),
                     std::chrono::duration_cast<std::chrono::seconds>(now - written)});
  }
  if (ec) return Fail("cannot list " + root_.string() + ": " + ec.message());
  const auto doomed = TasksToPrune(std::move(tasks), retention, tasks_max);
  for (const auto& key : doomed) {
    if (auto st = Forget(key); !st) return tl::unexpected(st.error());
  }
  return doomed.size();
}

}  // namespace plume::agent
