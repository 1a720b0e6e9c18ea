// Runs one task at a time on a worker thread and hands its progress and its end back to the
// reactor thread through a queue plus a Wakeup (so the ZeroMQ socket is only ever touched by
// the reactor). The work itself is a function, so this class is tested without the kernels and
// the agent plugs in the kernels runner (task_work.h).
//
// Thread safety: Start/TakeEvents/RequestStop/Join are called from the reactor thread only; the
// work function runs on the worker thread and reports through the ProgressFn it is given.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "plume/protocol/hash.h"

#include "plume/agent/wakeup.h"
#include "plume/protocol/error.h"

namespace plume::agent {

// What a finished task produced.
struct TaskOutput {
  std::vector<uint8_t> result;  // the result blob (safetensors params/delta, or JSONL)
  double loss = 0;              // last training loss (train), 0 for inference
  int64_t steps_done = 0;       // AdamW steps (train) or prompts completed (infer)
  int64_t tokens_processed = 0;
  double val_loss = std::numeric_limits<double>::quiet_NaN();  // NaN: no evaluation data
  double flops = 0;                                             // model FLOPs of the work done
  // What the receipt commits to (verify/dispute.h): training, the chain of state links;
  // inference, one hash per completion. Empty: nothing committed.
  std::vector<Hash256> commitments;
  // The FLOPs the ledger receipt bills when the work had to compute them (an inference task
  // with a BPE tokenizer counts its prompts' tokens; task_work.h BilledFlops); 0: from the
  // assignment alone.
  uint64_t billed_flops = 0;
};

struct ProgressEvent {
  std::string task_key;
  int64_t step = 0;
  int64_t steps_total = 0;
  double loss = 0;
};

struct DoneEvent {
  std::string task_key;
  Result<TaskOutput> output;
  bool stopped = false;  // the work saw the stop flag and gave up (drain / cancel)
};

using ExecutorEvent = std::variant<ProgressEvent, DoneEvent>;
using ProgressFn = std::function<void(int64_t step, int64_t steps_total, double loss)>;
// The work: runs to completion or returns early once *stop is true.
using WorkFn = std::function<Result<TaskOutput>(const ProgressFn&, const std::atomic<bool>& stop)>;

class TaskExecutor {
 public:
  explicit TaskExecutor(const Wakeup* wakeup) : wakeup_(wakeup) {}
  ~TaskExecutor();

  bool Busy() const { return busy_; }
  const std::string& current_key() const { return current_key_; }
  // Precondition: !Busy(). Starts the work on a fresh worker thread.
  void Start(std::string task_key, WorkFn work);
  // Asks the running work to stop early (cooperative; the work checks the flag between steps).
  void RequestStop() { stop_ = true; }
  // Events since the last call, in order. A DoneEvent makes the executor idle again.
  std::vector<ExecutorEvent> TakeEvents();

 private:
  void Push(ExecutorEvent event);
  void JoinWorker();

  const Wakeup* wakeup_;
  std::thread worker_;
  std::atomic<bool> stop_{false};
  bool busy_ = false;
  std::string current_key_;
  std::mutex mu_;
  std::deque<ExecutorEvent> events_;  // guarded by mu_
};

}  // namespace plume::agent
