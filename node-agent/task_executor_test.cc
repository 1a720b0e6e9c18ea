// The executor runs work off the calling thread, delivers progress then exactly one DoneEvent,
// wakes the reactor's pipe, honours a stop request, and turns an exception into a failed task.
#include "plume/agent/task_executor.h"

#include <poll.h>

#include <gtest/gtest.h>

#include <chrono>

namespace plume::agent {
namespace {

// Waits (bounded) on the wakeup pipe and collects events until a DoneEvent arrives.
std::vector<ExecutorEvent> RunToDone(TaskExecutor& ex, const Wakeup& w) {
  std::vector<ExecutorEvent> all;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{w.read_fd(), POLLIN, 0};
    ::poll(&p, 1, 100);
    w.Drain();
    for (auto& e : ex.TakeEvents()) {
      const bool done = std::holds_alternative<DoneEvent>(e);
      all.push_back(std::move(e));
      if (done) return all;
    }
  }
  ADD_FAILURE() << "no DoneEvent before the deadline";
  return all;
}

TEST(TaskExecutorTest, ReportsProgressThenDone) {
  Wakeup w;
  ASSERT_TRUE(w.ok());
  TaskExecutor ex(&w);
  const auto caller = std::this_thread::get_id();
  std::thread::id worker;
  ex.Start("t1", [&](const ProgressFn& progress, const std::atomic<bool>&) -> Result<TaskOutput> {
    worker = std::this_thread::get_id();
    for (int i = 1; i <= 3; ++i) progress(i, 3, 1.0 / i);
    return TaskOutput{{1, 2}, 0.33, 3, 96};
  });
  EXPECT_TRUE(ex.Busy());
  auto events = RunToDone(ex, w);
  EXPECT_FALSE(ex.Busy());
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(std::get<ProgressEvent>(events[0]).step, 1);
  EXPECT_EQ(std::get<ProgressEvent>(events[2]).step, 3);
  const auto& done = std::get<DoneEvent>(events[3]);
  EXPECT_EQ(done.task_key, "t1");
  ASSERT_TRUE(done.output);
  EXPECT_EQ(done.output->result, (std::vector<uint8_t>{1, 2}));
  EXPECT_NE(worker, caller);
}

TEST(TaskExecutorTest, StopRequestEndsTheWorkEarly) {
  Wakeup w;
  TaskExecutor ex(&w);
  std::atomic<bool> started{false};
  ex.Start("t2", [&](const ProgressFn&, const std::atomic<bool>& stop) -> Result<TaskOutput> {
    started = true;
    while (!stop) std::this_thread::yield();
    return Fail("stopped");
  });
  while (!started) std::this_thread::yield();
  ex.RequestStop();
  auto events = RunToDone(ex, w);
  ASSERT_FALSE(events.empty());
  const auto& done = std::get<DoneEvent>(events.back());
  EXPECT_TRUE(done.stopped);
  EXPECT_FALSE(done.output);
}

TEST(TaskExecutorTest, ExceptionBecomesAFailedTask) {
  Wakeup w;
  TaskExecutor ex(&w);
  ex.Start("t3", [](const ProgressFn&, const std::atomic<bool>&) -> Result<TaskOutput> {
    throw std::runtime_error("boom");
  });
  auto events = RunToDone(ex, w);
  const auto& done = std::get<DoneEvent>(events.back());
  ASSERT_FALSE(done.output);
  EXPECT_NE(done.output.error().message.find("boom"), std::string::npos);
  // The executor is reusable after a failure.
  ex.Start("t4", [](const ProgressFn&, const std::atomic<bool>&) -> Result<TaskOutput> {
    return TaskOutput{};
  });
  auto again = RunToDone(ex, w);
  EXPECT_TRUE(std::get<DoneEvent>(again.back()).output);
}

}  // namespace
}  // namespace plume::agent
