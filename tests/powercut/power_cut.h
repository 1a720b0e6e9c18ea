// The test side of powercut_shim.cc: after the process under the shim is SIGKILLed, CutPower
// rolls its directory back to what a power cut would have kept (the shim's record), as if the
// machine had lost power at the moment of the kill.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "plume/protocol/error.h"

namespace plume::powercut {

// The environment that puts a process under the shim: LD_PRELOAD and the two paths.
// kill_at_sync > 0: the process SIGKILLs itself after that many syncs under `dir`.
std::map<std::string, std::string> ShimEnv(const std::filesystem::path& dir,
                                           const std::filesystem::path& state,
                                           long kill_at_sync = 0);
// Call with the process dead. Every directory under `dir` comes back as its last fsync'd
// listing (an unsynced directory empty), every file as its last fsync'd bytes (never synced:
// empty); anything else is removed. Then the record is deleted and the disk synced: after the
// "reboot" everything is durable, and a shim loaded next starts a fresh record.
Status CutPower(const std::filesystem::path& dir, const std::filesystem::path& state);

}  // namespace plume::powercut
