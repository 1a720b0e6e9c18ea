// The power-cut shim itself: a process writes files in durable and non-durable ways; before
// the cut all of them are there (as after a kill -9, which keeps the page cache), after it only
// what was fsync'd with its directory. This is what makes powercut_pay_test.cc a power-loss
// test, and it shows the scheduler's old settle write (ofstream, flush, rename) losing the file.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "harness.h"
#include "power_cut.h"

namespace plume::powercut {
namespace {
namespace fs = std::filesystem;

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(PowerCutShim, KeepsOnlyWhatWasSyncedWithItsDirectory) {
  itest::TempDir tmp("plume-powercut");
  const fs::path dir = tmp / "data", state = tmp / "record";
  fs::create_directories(dir);
  std::ofstream(dir / "pre") << "old";
  ::sync();  // before the shim loads: all of it is durable
  auto p = itest::Process::Spawn({PLUME_POWERCUT_WRITER, dir.string()}, tmp / "writer.log",
                                 ShimEnv(dir, state));
  ASSERT_TRUE(p);
  auto status = p->Wait(std::chrono::seconds(30));
  ASSERT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << Read(tmp / "writer.log");
  // Before the cut the page cache has everything.
  for (const char* f : {"durable", "settles/old-style", "settles/name-unsynced", "a/b/f", "c/f"}) {
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  }
  EXPECT_EQ(Read(dir / "pre"), "new");

  ASSERT_TRUE(CutPower(dir, state));
  EXPECT_EQ(Read(dir / "durable"), "kept");
  EXPECT_EQ(Read(dir / "a" / "b" / "f"), "deep");
  EXPECT_EQ(Read(dir / "pre"), "old");
  EXPECT_TRUE(fs::is_directory(dir / "settles"));
  EXPECT_FALSE(fs::exists(dir / "settles" / "old-style")) << "an unsynced rename survived the cut";
  EXPECT_FALSE(fs::exists(dir / "settles" / "name-unsynced"));
  EXPECT_FALSE(fs::exists(dir / "c"));
  EXPECT_FALSE(fs::exists(state));  // the record goes with the cut
}

}  // namespace
}  // namespace plume::powercut
