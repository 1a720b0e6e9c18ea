// The agent's side of commitments and disputes: a training task's result carries the chain of
// state links (the same at 1 and 3 threads) and leaves behind, on disk, the state behind each
// link, which checks against its link; an inference task's result carries one hash per
// completion. The dispute-state store round-trips, refuses a truncated file or a key that could
// leave its directory, and prunes by age and count.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "dispute_states.h"
#include "plume/agent/limits.h"
#include "plume/verify/dispute.h"
#include "task_work.h"
#include "testing/determinism_tasks.h"

namespace plume::agent {
namespace {

using std::chrono::hours;
using std::chrono::seconds;

DeviceChoice Cpu(int threads) {
  return {.cuda_device = -1, .cuda_devices = {}, .threads = threads};
}

TaskOutput RunWork(const WorkFn& work) {
  std::atomic<bool> stop{false};
  auto out = work([](int64_t, int64_t, double) {}, stop);
  EXPECT_TRUE(out) << (out ? "" : out.error().message);
  return out ? std::move(*out) : TaskOutput{};
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() /
            ("plume-commit-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::remove_all(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path path_;
};

TEST(AgentCommitments, ATrainingResultCarriesTheChainAndKeepsTheStateBehindEachLink) {
  TempDir dir;
  TrainTask t = testing::DeterminismTrainTask(5);
  t.states = std::make_shared<DisputeStates>(dir.path());
  t.state_key = "t1-a0";
  const TaskOutput out = RunWork(MakeTrainWork(t, Cpu(1)));
  ASSERT_EQ(out.commitments.size(), static_cast<size_t>(verify::CommitmentLinks(t.local_steps)));
  for (size_t link = 0; link < out.commitments.size(); ++link) {
    auto state = t.states->Get("t1-a0", link);
    ASSERT_TRUE(state) << state.error().message;
    EXPECT_TRUE(verify::StateMatchesLink(out.commitments, link, *state)) << "link " << link;
    if (link > 0) {
      EXPECT_FALSE(verify::StateMatchesLink(out.commitments, link - 1, *state))
          << "a state checks against its own link only";
    }
  }
  // Without a store nothing is kept, and the chain does not depend on the thread count.
  t.states = nullptr;
  EXPECT_EQ(RunWork(MakeTrainWork(t, Cpu(3))).commitments, out.commitments);
  EXPECT_NE(RunWork(MakeTrainWork(testing::DeterminismTrainTask(6), Cpu(1))).commitments,
            out.commitments);
}

TEST(AgentCommitments, AnInferenceResultCommitsToEachCompletion) {
  const InferTask t = testing::DeterminismInferTask(11);
  const TaskOutput out = RunWork(MakeInferWork(t, Cpu(2)));
  ASSERT_EQ(out.commitments.size(), t.prompts.size());
  std::istringstream lines(std::string(out.result.begin(), out.result.end()));
  std::string line;
  for (size_t i = 0; std::getline(lines, line); ++i) {
    const auto j = nlohmann::json::parse(line);
    EXPECT_EQ(out.commitments[i], verify::CompletionHash(j["index"].get<int64_t>(),
                                                         j["completion"].get<std::string>()));
  }
}

TEST(DisputeStates, RoundTripsAndRefusesWhatItDidNotWrite) {
  TempDir dir;
  DisputeStates store(dir.path());
  const kernels::TrainState s{{1.0f, -2.5f, 3.0f}, {0.1f, 0.2f, 0.3f}, {4.0f, 5.0f, 6.0f}};
  ASSERT_TRUE(store.Put("t3-a1", 0, s));
  auto back = store.Get("t3-a1", 0);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->params, s.params);
  EXPECT_EQ(back->m, s.m);
  EXPECT_EQ(back->v, s.v);
  EXPECT_FALSE(store.Get("t3-a1", 1)) << "never written";
  EXPECT_FALSE(store.Put("../escape", 0, s));
  EXPECT_FALSE(store.Put("t3-a1", verify::kMaxCommitmentLinks, s)) << "beyond the chain";
  // Cut the file short: refused, not read as a smaller state.
  const auto file = dir.path() / "t3-a1" / "link-0.state";
  std::filesystem::resize_file(file, std::filesystem::file_size(file) - 4);
  EXPECT_FALSE(store.Get("t3-a1", 0));
  ASSERT_TRUE(store.Forget("t3-a1"));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "t3-a1"));
}

TEST(DisputeStates, PrunesWhatIsTooOldThenTheOldestBeyondTheCount) {
  const std::vector<KeptTask> tasks = {
      {"a", seconds(10)}, {"b", hours(30)}, {"c", seconds(30)}, {"d", seconds(20)}};
  EXPECT_EQ(TasksToPrune(tasks, kDisputeRetention, 4), (std::vector<std::string>{"b"}));
  EXPECT_EQ(TasksToPrune(tasks, kDisputeRetention, 2), (std::vector<std::string>{"b", "c"}));
  EXPECT_TRUE(TasksToPrune(tasks, hours(48), 4).empty());
  EXPECT_EQ(TasksToPrune(tasks, hours(48), 0).size(), 4u);

  TempDir dir;
  DisputeStates store(dir.path());
  const kernels::TrainState s{{1.0f}, {0.0f}, {0.0f}};
  for (const char* key : {"t1-a0", "t2-a0", "t3-a0"}) ASSERT_TRUE(store.Put(key, 0, s));
  auto pruned = store.Prune(kDisputeRetention, 1);
  ASSERT_TRUE(pruned);
  EXPECT_EQ(*pruned, 2u);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

}  // namespace
}  // namespace plume::agent
