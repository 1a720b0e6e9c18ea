// The training states behind a task's commitment links, kept on disk until the task's result is
// final, so that the agent can hand a referee the state a disputed segment starts from
// (verify/dispute.h). One directory per task, one file per link:
//   <root>/<task key>/link-<i>.state, in verify/state_codec.h's format (what an export sends).
// Bounded (limits.h): at most kMaxCommitmentLinks states per task, kDisputeTasksMax tasks, and
// kDisputeRetention of age; Prune() enforces the last two, oldest first.
//
// Not thread-safe: the training thread writes a task's states while it runs, the reactor prunes
// and forgets tasks that are not running; the agent never does both to one task at once.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "plume/kernels/gpt.h"
#include "plume/protocol/error.h"

namespace plume::agent {

// Which tasks to delete, given each task's age: every one older than `retention`, then the
// oldest until at most `tasks_max` remain. Pure; ties broken by name so the choice is stable.
struct KeptTask {
  std::string key;
  std::chrono::seconds age{0};
};
std::vector<std::string> TasksToPrune(std::vector<KeptTask> tasks, std::chrono::seconds retention,
                                      size_t tasks_max);

class DisputeStates {
 public:
  explicit DisputeStates(std::filesystem::path root) : root_(std::move(root)) {}

  // Writes the state behind link `link` of task `key` (fsynced, via a temporary and a rename, so
  // a crash leaves the old file or the new one, never half of one).
  Status Put(const std::string& key, size_t link, const kernels::TrainState& state);
  Result<kernels::TrainState> Get(const std::string& key, size_t link) const;
  // The file's bytes as kept (an export run's result blob), not decoded.
  Result<std::vector<uint8_t>> GetBytes(const std::string& key, size_t link) const;
  // Deletes a task's states: its result is final, nothing can dispute it any more.
  Status Forget(const std::string& key);
  // Applies TasksToPrune to what is on disk (age from each directory's last write); returns the
  // number of tasks deleted.
  Result<size_t> Prune(std::chrono::seconds retention, size_t tasks_max);

 private:
  std::filesystem::path root_;
};

}  // namespace plume::agent
