// Encrypted datasets on the agent (docs/data-owners.md "Key release"). A TaskAssign on an
// encrypted dataset carries the scheduler's grant for this agent and task and where the owner's
// key service is. On the worker thread, before training reads the data, the agent asks that
// service for the data key over CURVE (authenticating it by the owner's key; the service
// authenticates this agent by its own), opens the sealed key with its identity and decrypts the
// fetched ciphertext in memory: the plaintext never touches the disk, and it is wiped with the
// key when the work ends (task_work.h TrainTask::unseal). The blob the receipt names stays the
// ciphertext the scheduler stores.
//
// Bounds: kKeyTries calls of at most kKeyCallTimeout each, a short pause between; a refusal that
// a retry cannot change (the grant does not hold) ends at once. Every failure fails the task as
// retryable: the scheduler may give it to this agent or another one again.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/plume.capnp.h"
#include "task_work.h"

namespace plume::agent {

inline constexpr int kKeyTries = 3;
inline constexpr std::chrono::milliseconds kKeyCallTimeout{5000};
inline constexpr std::chrono::milliseconds kKeyRetryPause{1000};

// What the worker thread needs, copied out of the assignment (no Cap'n Proto reader crosses).
struct DataKeyAccess {
  std::vector<uint8_t> grant;
  std::string key_service;
  PublicKey owner{};
  std::string dataset, job, task;
};
// nullopt: the assignment carries no grant (its data is in the clear). An error: it carries one
// that is not usable (no endpoint, a malformed owner key).
Result<std::optional<DataKeyAccess>> DataKeyOf(wire::TaskAssign::Reader assign);

// Sets t.unseal when the assignment carries a grant (its data is the ciphertext): on the worker
// thread it asks for the key as `agent` and decrypts in memory. An error: an unusable grant.
Status AttachDataKey(wire::TaskAssign::Reader assign, const Identity& agent, TrainTask& t);

// Replaces `data` (the dataset's ciphertext) with its plaintext, or says why not.
Status UnsealData(const DataKeyAccess& access, const Identity& agent, std::vector<uint8_t>& data,
                  const std::atomic<bool>& stop);

}  // namespace plume::agent
