// Where the ledger bridge keeps its files under <data dir>/ledger (ledger_bridge.h): kept settle
// entries, one per accepted result, named by a hash of the core's task id ('/' in it).
#pragma once

#include <filesystem>
#include <string>

#include "plume/protocol/hash.h"

namespace plume::scheduler {

inline std::filesystem::path SettlePath(const std::filesystem::path& dir, const std::string& task) {
  return dir / "settles" / (ToHex(Blake2b256(task)).substr(0, 32) + ".entry");
}

}  // namespace plume::scheduler
