// SQLite store: a saved state loads back equal; a scheduler killed after a commit but before
// acting (the worst moment) and restarted from the database ends every job the same way as an
// uninterrupted run, with no result accepted twice; bad paths give clear errors.
#include "plume/scheduler/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core_test_util.h"
#include "sim_world.h"
#include "sqlite.h"

namespace plume::scheduler {
namespace {

using testing::World;
using testing::WorldOptions;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("plume-sched-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path Db(const std::string& name) { return dir_ / name; }
  std::filesystem::path dir_;
};

State WithoutProgress(State s) {
  for (auto& [id, t] : s.tasks) {
    t.progress_step = 0;  // heartbeat progress is deliberately not persisted
    t.progress_loss = 0;
  }
  return s;
}

TEST_F(StoreTest, SavedStateLoadsBackEqual) {
  auto store = Store::Open(Db("a.db"));
  ASSERT_TRUE(store) << store.error().message;
  WorldOptions o;
  o.agents = 12;
  o.jobs = 6;
  o.faults = true;
  World w(o, Config{}, &*store);
  for (int i = 0; i < 150; ++i) w.RunThenCrash(0);  // reload every step: a harsh round trip
  EXPECT_TRUE(w.violations.empty()) << w.violations.front();
  auto loaded = store->Load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  Core again(Config{}, std::move(*loaded));
  EXPECT_FALSE(w.core().state().tasks.empty());
  EXPECT_TRUE(WithoutProgress(again.state()) == WithoutProgress(w.core().state()));
}

TEST_F(StoreTest, RestartAfterCommitBeforeActingEndsEveryJobTheSame) {
  WorldOptions o;
  o.seed = 42;
  o.agents = 40;
  o.jobs = 4;
  o.submit_window_ms = 5000;
  // kNormal below: fsync per commit is not what this shows, and it would dominate the time.
  auto outcome = [](const World& w) {
    std::map<JobId, std::pair<JobState, std::vector<BlobHash>>> out;
    for (const auto& [id, j] : w.core().state().jobs) out[id] = {j.state, j.outputs};
    return out;
  };
  auto base_store = Store::Open(Db("base.db"), Sync::kNormal);
  ASSERT_TRUE(base_store);
  World base(o, Config{}, &*base_store);
  ASSERT_TRUE(base.Run(3'600'000));
  ASSERT_TRUE(base.violations.empty()) << base.violations.front();
  for (const auto& [id, j] : base.core().state().jobs) EXPECT_EQ(j.state, JobState::kSucceeded);

  for (int crash_at : {3, 10, 25, 40, 60, 90}) {
    SCOPED_TRACE("crash after step " + std::to_string(crash_at));
    auto store = Store::Open(Db("crash" + std::to_string(crash_at) + ".db"), Sync::kNormal);
    ASSERT_TRUE(store);
    World w(o, Config{}, &*store);
    w.RunThenCrash(crash_at);
    ASSERT_TRUE(w.Run(3'600'000));
    EXPECT_TRUE(w.violations.empty()) << w.violations.front();
    EXPECT_EQ(outcome(w), outcome(base));
  }
}

TEST_F(StoreTest, RepeatedCrashesUnderFaultsKeepTheInvariants) {
  auto store = Store::Open(Db("faults.db"), Sync::kNormal);
  ASSERT_TRUE(store);
  WorldOptions o;
  o.seed = 7;
  o.agents = 30;
  o.jobs = 20;
  o.faults = true;
  World w(o, Config{}, &*store);
  for (int i = 0; i < 10; ++i) w.RunThenCrash(15);
  EXPECT_TRUE(w.Run(3 * 3'600'000));
  EXPECT_TRUE(w.violations.empty()) << w.violations.front();
}

TEST_F(StoreTest, SchemaOneDatabaseLoadsTheSameAndIsMarkedCurrent) {
  Core core;
  core.Handle(1000, AgentRegistered{testing::Agent("a")});
  core.Handle(1000, JobSubmitted{"j", "alice", testing::InferSpec(6, 3)});
  {
    auto store = Store::Open(Db("v1.db"), Sync::kNormal);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Save(core.TakeDirty()));
  }
  {
    // Turn it into what schema 1 wrote: the spec in jobs.spec, no job_specs or node_stats (nor
    // schema 3's node_verdicts and task_excluded).
    auto db = sql::Db::Open(Db("v1.db"));
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->Exec(
        "UPDATE jobs SET spec = (SELECT spec FROM job_specs WHERE job_specs.id = jobs.id);"
        "DROP TABLE job_specs; DROP TABLE node_stats; DROP TABLE node_verdicts;"
        "DROP TABLE task_excluded;"
        "UPDATE meta SET value = 1 WHERE key = 'schema_version';"));
  }
  auto store = Store::Open(Db("v1.db"), Sync::kNormal);
  ASSERT_TRUE(store) << store.error().message;
  auto loaded = store->Load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_TRUE(WithoutProgress(*loaded) == WithoutProgress(core.state()));
  // Saving on top of it keeps the old row's spec readable, and the version now says 4.
  Core again(Config{}, std::move(*loaded));
  again.Handle(2000, LedgerApplied{"hold:j"});  // touches the job row and assigns a task
  ASSERT_TRUE(again.state().jobs.at("j").escrow_held);
  ASSERT_TRUE(store->Save(again.TakeDirty()));
  auto reloaded = store->Load();
  ASSERT_TRUE(reloaded);
  Core third(Config{}, std::move(*reloaded));  // node-task links are derived on load
  EXPECT_TRUE(WithoutProgress(third.state()) == WithoutProgress(again.state()));
  auto db = sql::Db::Open(Db("v1.db"));
  ASSERT_TRUE(db);
  auto q = db->Prepare("SELECT value FROM meta WHERE key = 'schema_version'");
  ASSERT_TRUE(q);
  auto row = q->Step();
  ASSERT_TRUE(row && *row);
  EXPECT_EQ(q->Int(0), 4);
}

TEST_F(StoreTest, SchemaThreeDatabaseGainsTheStakeColumnsAndKeepsWhatTheyHold) {
  Core core(testing::NoAudits());
  core.Handle(1000, AgentRegistered{testing::Agent("a")});
  core.Handle(1000, JobSubmitted{"j", "alice", testing::InferSpec(6, 3)});
  core.Handle(1000, LedgerApplied{"hold:j"});  // assigns a task: its price is fixed
  {
    auto store = Store::Open(Db("v3.db"), Sync::kNormal);
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->Save(core.TakeDirty()));
  }
  {
    // What schema 3 wrote: none of schema 4's columns or its task_nonretryable table.
    auto db = sql::Db::Open(Db("v3.db"));
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->Exec(
        "ALTER TABLE nodes DROP COLUMN stake; ALTER TABLE nodes DROP COLUMN unbonding;"
        "ALTER TABLE nodes DROP COLUMN slashes; ALTER TABLE tasks DROP COLUMN price;"
        "ALTER TABLE tasks DROP COLUMN final_at_ms; ALTER TABLE outbox DROP COLUMN legs;"
        "ALTER TABLE outbox DROP COLUMN memo; DROP TABLE task_nonretryable;"
        "UPDATE meta SET value = 3 WHERE key = 'schema_version';"));
  }
  auto store = Store::Open(Db("v3.db"), Sync::kNormal);
  ASSERT_TRUE(store) << store.error().message;
  auto loaded = store->Load();
  ASSERT_TRUE(loaded) << loaded.error().message;
  // The old rows read as "nothing staked, no fixed price".
  State want = core.state();
  for (auto& [id, t] : want.tasks) t.price_micro_plume_per_pflop = 0;
  Core again(testing::NoAudits(), std::move(*loaded));  // node-task links are derived on load
  EXPECT_TRUE(WithoutProgress(again.state()) == WithoutProgress(want));
  // The new columns hold what is saved into them.
  again.Handle(2000, StakeChanged{"a", 5'000, 700});
  ASSERT_TRUE(store->Save(again.TakeDirty()));
  auto reloaded = store->Load();
  ASSERT_TRUE(reloaded);
  EXPECT_EQ(reloaded->nodes.at("a").stake_micro_plume, 5'000);
  EXPECT_EQ(reloaded->nodes.at("a").unbonding_micro_plume, 700);
}

TEST_F(StoreTest, UnwritablePathIsAClearError) {
  auto store = Store::Open(dir_ / "missing" / "dir" / "s.db");
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("missing/dir/s.db"), std::string::npos);
}

}  // namespace
}  // namespace plume::scheduler
