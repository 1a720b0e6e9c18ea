// Reconnect backoff: waits grow, stay within [step/2, step], are capped, and reset.
#include "plume/agent/backoff.h"

#include <gtest/gtest.h>

namespace plume::agent {
namespace {
using std::chrono::milliseconds;

TEST(BackoffTest, DoublesWithJitterUpToTheCap) {
  Backoff b(milliseconds(100), milliseconds(1000), 42);
  int64_t step = 100;
  for (int i = 0; i < 10; ++i) {
    const auto w = b.Next().count();
    EXPECT_GE(w, step / 2) << "attempt " << i;
    EXPECT_LE(w, step) << "attempt " << i;
    step = std::min<int64_t>(1000, step * 2);
  }
  EXPECT_EQ(b.attempts(), 10);
}

TEST(BackoffTest, ResetStartsOver) {
  Backoff b(milliseconds(100), milliseconds(1000), 7);
  for (int i = 0; i < 6; ++i) b.Next();
  b.Reset();
  EXPECT_LE(b.Next().count(), 100);
  EXPECT_EQ(b.attempts(), 1);
}

TEST(BackoffTest, SameSeedSameWaits) {
  Backoff a(milliseconds(10), milliseconds(5000), 3), b(milliseconds(10), milliseconds(5000), 3);
  for (int i = 0; i < 12; ++i) EXPECT_EQ(a.Next(), b.Next());
}

}  // namespace
}  // namespace plume::agent
