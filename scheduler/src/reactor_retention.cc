// Reactor: the blob retention sweep (retention.h decides, this file deletes). Runs on the
// reactor thread because the state it reads is the reactor's; its cost is bounded: one pass over
// the state and the store's in-memory index, at most kRetentionDeletesPerSweepMax unlinks, and a
// listing of momentum/ (two files per training job at most, once this sweep has run).
#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "plume/protocol/hash.h"
#include "plume/scheduler/retention.h"
#include "reactor_impl.h"

namespace plume::scheduler {

void Reactor::Impl::SweepRetention() {
  const State& s = core.state();
  std::unordered_set<BlobHash> in_use = BlobsInUse(s, NowMs(), opt.retention, joined_outputs);
  if (opt.ledger_kept_blobs) {
    for (BlobHash& b : opt.ledger_kept_blobs()) in_use.insert(std::move(b));
  }
  std::vector<StoredBlob> stored;
  for (const StoredBlobInfo& b : blobs->List()) {
    stored.push_back({ToHex(b.hash), b.stored_unix_ms});
  }
  const int64_t unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
  const std::vector<BlobHash> doomed =
      BlobsToDelete(stored, in_use, unix_ms, opt.retention, kRetentionDeletesPerSweepMax);
  std::vector<BlobHash> deleted;
  for (const BlobHash& hex : doomed) {
    auto hash = HashFromHex(hex);
    if (!hash) continue;
    if (auto st = blobs->Remove(*hash); !st) {
      spdlog::warn("retention: {}", st.error().message);
      continue;
    }
    deleted.push_back(hex);
  }
  for (const BlobHash& hex : deleted) {
    if (auto j = joined_outputs.find(hex); j != joined_outputs.end()) {
      joined_by_job.erase(j->second);
      joined_outputs.erase(j);
    }
  }
  if (!deleted.empty()) {
    spdlog::info("retention: deleted {} blobs no job keeps ({} kept in use)", deleted.size(),
                 in_use.size());
    Feed(BlobsDeleted{deleted});
  }
  // A full sweep leaves more behind: come back soon rather than in a whole interval.
  next_retention_sweep_ms =
      NowMs() + (doomed.size() >= kRetentionDeletesPerSweepMax ? 1'000 : opt.retention_sweep_ms);

  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(opt.state_dir / "momentum", ec)) {
    if (e.is_regular_file(ec)) names.push_back(e.path().filename().string());
  }
  size_t removed = 0;
  for (const std::string& name : MomentumToDelete(s, names)) {
    if (std::filesystem::remove(opt.state_dir / "momentum" / name, ec)) ++removed;
  }
  if (removed > 0) spdlog::info("retention: removed {} momentum files no round reads", removed);
}

}  // namespace plume::scheduler
