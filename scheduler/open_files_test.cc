// The open-file limit and the connection cap (reactor.h RaiseOpenFileLimit): the cap that fits a
// descriptor limit, and that raising the soft limit in this process leaves room for the default
// cap where the hard limit allows it.
#include <sys/resource.h>

#include <algorithm>

#include <gtest/gtest.h>

#include "plume/protocol/limits.h"
#include "plume/scheduler/reactor.h"

namespace plume::scheduler {
namespace {

TEST(OpenFiles, TheCapShrinksToWhatTheLimitHolds) {
  const size_t reserve = limits::kFileDescriptorsReserve;
  EXPECT_EQ(ConnectionsThatFit(2048, 1'048'576), 2048u);
  EXPECT_EQ(ConnectionsThatFit(2048, 2048 + reserve), 2048u);
  EXPECT_EQ(ConnectionsThatFit(2048, 1024), 1024u - reserve);  // ulimit -n 1024: 512
  EXPECT_EQ(ConnectionsThatFit(2048, 100), 0u);                // below the reserve: none
}

TEST(OpenFiles, TheSoftLimitIsRaisedTowardsTheHardOne) {
  rlimit before{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &before), 0);
  rlimit low{std::min<rlim_t>(before.rlim_max, 1024), before.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
  const size_t cap = RaiseOpenFileLimit(limits::kConnectionsMaxDefault);
  rlimit after{};
  ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &after), 0);
  const rlim_t need = limits::kConnectionsMaxDefault + limits::kFileDescriptorsReserve;
  if (before.rlim_max == RLIM_INFINITY || before.rlim_max >= need) {
    EXPECT_GE(after.rlim_cur, need);
    EXPECT_EQ(cap, limits::kConnectionsMaxDefault);
  } else {
    EXPECT_EQ(after.rlim_cur, before.rlim_max);
    EXPECT_EQ(cap, ConnectionsThatFit(limits::kConnectionsMaxDefault, before.rlim_max));
  }
  ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &before), 0);
}

}  // namespace
}  // namespace plume::scheduler
