// One worker thread per task; events cross to the reactor under a mutex and a self-pipe poke.
#include "plume/agent/task_executor.h"

#include <exception>

namespace plume::agent {

TaskExecutor::~TaskExecutor() {
  stop_ = true;
  JoinWorker();
}

void TaskExecutor::JoinWorker() {
  if (worker_.joinable()) worker_.join();
}

void TaskExecutor::Start(std::string task_key, WorkFn work) {
  JoinWorker();  // a previous worker has already pushed its DoneEvent, so this returns at once
  stop_ = false;
  busy_ = true;
  current_key_ = task_key;
  worker_ = std::thread([this, key = std::move(task_key), work = std::move(work)]() {
    ProgressFn progress = [this, &key](int64_t step, int64_t total, double loss) {
      Push(ProgressEvent{key, step, total, loss});
    };
    Result<TaskOutput> out = Fail("task did not run");
    // The kernels return errors as values; this catch is the last resort so that a bug in a
    // task (or std::bad_alloc on a huge model) fails the task instead of killing the agent.
    try {
      out = work(progress, stop_);
    } catch (const std::exception& e) {
      out = Fail(std::string("task crashed: ") + e.what());
    } catch (...) {
      out = Fail("task crashed with an unknown exception");
    }
    Push(DoneEvent{key, std::move(out), stop_.load()});
  });
}

void TaskExecutor::Push(ExecutorEvent event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(event));
  }
  if (wakeup_ != nullptr) wakeup_->Notify();
}

std::vector<ExecutorEvent> TaskExecutor::TakeEvents() {
  std::vector<ExecutorEvent> out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    while (!events_.empty()) {
      out.push_back(std::move(events_.front()));
      events_.pop_front();
    }
  }
  for (const auto& e : out) {
    if (std::holds_alternative<DoneEvent>(e)) {
      busy_ = false;
      current_key_.clear();
      JoinWorker();
    }
  }
  return out;
}

}  // namespace plume::agent
