// The result spool keeps finished results across a restart, replaces by key, removes on ack and
// ignores torn temporaries left by a crash.
#include "plume/agent/result_spool.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace plume::agent {
namespace {
namespace fs = std::filesystem;

class ResultSpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("plume-spool-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(ResultSpoolTest, SurvivesReopenAndRemovesOnAck) {
  {
    auto spool = ResultSpool::Open(dir_);
    ASSERT_TRUE(spool) << spool.error().message;
    ASSERT_TRUE(spool->Put({"task-1-0", {1, 2, 3}, R"({"loss":1.5})"}));
    ASSERT_TRUE(spool->Put({"task-2-0", {9}, R"({"loss":2})"}));
  }
  auto spool = ResultSpool::Open(dir_);
  ASSERT_TRUE(spool);
  auto all = spool->List();
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ(spool->Keys().size(), 2u);
  auto one = spool->Get("task-1-0");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->result, (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_EQ(one->meta_json, R"({"loss":1.5})");
  ASSERT_TRUE(spool->Remove("task-1-0"));
  ASSERT_TRUE(spool->Remove("task-1-0"));  // a second ack is harmless
  EXPECT_FALSE(spool->Contains("task-1-0"));
  EXPECT_TRUE(spool->Contains("task-2-0"));
  EXPECT_EQ(spool->Size(), 1u);
}

TEST_F(ResultSpoolTest, PutReplacesSameKey) {
  auto spool = ResultSpool::Open(dir_);
  ASSERT_TRUE(spool);
  ASSERT_TRUE(spool->Put({"k", {1}, "a"}));
  ASSERT_TRUE(spool->Put({"k", {2, 2}, "b"}));
  auto e = spool->Get("k");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->result, (std::vector<uint8_t>{2, 2}));
  EXPECT_EQ(e->meta_json, "b");
}

TEST_F(ResultSpoolTest, TornTemporaryIsDropped) {
  auto spool = ResultSpool::Open(dir_);
  ASSERT_TRUE(spool);
  fs::create_directories(dir_ / ".tmp-half");
  std::ofstream(dir_ / ".tmp-half" / "result.bin") << "partial";
  auto all = spool->List();
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());
  EXPECT_FALSE(fs::exists(dir_ / ".tmp-half"));
}

TEST_F(ResultSpoolTest, RejectsKeysThatEscapeTheDirectory) {
  auto spool = ResultSpool::Open(dir_);
  ASSERT_TRUE(spool);
  EXPECT_FALSE(spool->Put({"../evil", {1}, "x"}));
  EXPECT_FALSE(spool->Put({".hidden", {1}, "x"}));
  EXPECT_FALSE(spool->Put({"", {1}, "x"}));
  EXPECT_FALSE(IsValidSpoolKey("a/b"));
  EXPECT_TRUE(IsValidSpoolKey("job_1.task-3"));
}

}  // namespace
}  // namespace plume::agent
