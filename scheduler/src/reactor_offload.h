// Private: heavy work off the reactor thread (security review F5/F14): building a job's initial
// parameters, counting an infer job's prompts under a BPE tokenizer, joining inference outputs
// for `plume fetch`, and the DiLoCo outer step. Each piece of work runs on one worker thread, in
// submission order within its kind (the core's first, then clients'), and returns a
// continuation that the reactor runs on its own thread in a later turn (TakeDone), where it may
// touch the core, send replies and feed events. The worker touches only what is thread-safe (the BlobStore, files of
// its own) and what the work captured by value.
//
// One worker, not a pool: a train submit's initial parameters are one model-sized buffer (the
// outer step and the output join are streamed in 1 MiB pieces, outer_step_stream.h and
// output_join.h), so running the pieces one at a time keeps the scheduler's peak memory that of
// one model.
// Work the core decides (aggregations: one per running round) is always queued and runs before
// any queued client work, so clients (keys are free) cannot hold back a round's outer step
// behind their quotes; work a client asks for (quotes and submits that count BPE prompts,
// submits that build a model, fetches) is refused past kOffloadClientWorkMax so that a client
// cannot queue unbounded memory.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace plume::scheduler {

inline constexpr size_t kOffloadClientWorkMax = 64;

class Offload {
 public:
  using Continuation = std::function<void()>;
  using Work = std::function<Continuation()>;
  // `before_each`: called on the worker before each piece of work (tests hold it to show the
  // reactor keeps serving meanwhile); may be empty.
  explicit Offload(std::function<void()> before_each = {});
  ~Offload();  // drops queued work, finishes the running piece, joins
  Offload(const Offload&) = delete;
  Offload& operator=(const Offload&) = delete;

  // Queues `work`. A client's work is refused (false) when kOffloadClientWorkMax client pieces
  // are queued or running.
  bool Submit(Work work, bool from_client);
  // The continuations of finished work since the last call, in completion order.
  std::vector<Continuation> TakeDone();
  // Queued, running or finished and not taken.
  size_t Outstanding() const;

 private:
  void Run();
  struct Piece {
    Work work;
    bool from_client = false;
  };
  std::function<void()> before_each_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Piece> core_todo_;  // run before any client work
  std::deque<Piece> client_todo_;
  std::vector<Continuation> done_;
  size_t outstanding_ = 0;
  size_t client_pieces_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace plume::scheduler
