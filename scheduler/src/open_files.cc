// The scheduler's open-file limit and connection cap; see reactor.h RaiseOpenFileLimit. With the
// usual soft limit of 1024 and no cap, 300 idle connections once left no descriptor for new
// clients (or for the database), silently.
#include <sys/resource.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "plume/protocol/limits.h"
#include "plume/scheduler/reactor.h"

namespace plume::scheduler {

size_t ConnectionsThatFit(size_t connections_max, uint64_t open_files) {
  const uint64_t reserve = limits::kFileDescriptorsReserve;
  const uint64_t room = open_files > reserve ? open_files - reserve : 0;
  return static_cast<size_t>(std::min<uint64_t>(connections_max, room));
}

size_t RaiseOpenFileLimit(size_t connections_max) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return connections_max;
  const rlim_t need = static_cast<rlim_t>(connections_max + limits::kFileDescriptorsReserve);
  const rlim_t want = rl.rlim_max == RLIM_INFINITY ? need : std::min<rlim_t>(rl.rlim_max, need);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    rlimit raised{want, rl.rlim_max};
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl.rlim_cur = want;
  }
  const uint64_t have = rl.rlim_cur == RLIM_INFINITY ? need : rl.rlim_cur;
  const size_t fit = ConnectionsThatFit(connections_max, have);
  if (fit < connections_max) {
    spdlog::warn("open-file limit is {} (hard {}): at most {} connections, not {}; raise the "
                 "hard limit (LimitNOFILE= in the unit, ulimit -Hn) to {} for the full cap",
                 have, rl.rlim_max == RLIM_INFINITY ? std::string("unlimited")
                                                    : std::to_string(rl.rlim_max),
                 fit, connections_max, need);
  } else {
    spdlog::info("open-file limit {}: room for {} connections", have, connections_max);
  }
  return fit;
}

}  // namespace plume::scheduler
