// Private: verifies task receipts (one ed25519 check each, ~50 us) and screens result blobs
// (reading, hashing and parsing up to a whole checkpoint: plume/verify/screen.h) on worker
// threads, so the reactor thread only decodes, decides and persists. The reactor submits a result whose cheap
// checks passed and, in a later turn, takes the checked results and feeds the core. A result is
// accepted iff its receipt verifies and matches the result; the order in which results of
// different tasks complete does not matter to the core, and the duplicate checks run again when
// the result is taken (a second copy verified meanwhile is then "already recorded").
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "plume/protocol/transport.h"
#include "plume/verify/screen.h"

namespace plume::scheduler {

// Reads the result blob (and what it is judged against) and screens it. Built by the reactor from
// the task's parameters; touches only thread-safe state (the blob store). An error means the
// scheduler could not screen (blob not stored yet, a read failed): nothing is decided on it.
using ScreenFn = std::function<Result<verify::Verdict>()>;

struct ResultToVerify {
  PeerId peer;
  uint64_t request_id = 0;
  PublicKey agent{};
  uint64_t task_wire_id = 0;
  uint32_t attempt = 0;
  Hash256 output{};
  double final_loss = 0;
  uint64_t tokens = 0;
  double flops = 0;
  std::string receipt;
  std::string receipt_signature;
  bool verified = false;  // set by the pool: signature good and fields match the result
  std::vector<Hash256> inputs;  // set by the pool from the verified receipt
  // The ledger receipt's agent-only fields (TaskResult.ledger*); checked by the ledger side.
  std::string ledger_device;
  std::string ledger_kernel_build;
  uint64_t ledger_start_unix_ms = 0;
  uint64_t ledger_end_unix_ms = 0;
  std::string ledger_signature;
  ScreenFn screen;  // run by the pool only when the receipt verified
  Result<verify::Verdict> screened = Fail("not screened");
  bool rescreened = false;  // submitted a second time (the blob arrived after the first check)
  std::string job_id = {};  // the task's job: the receipt must name it (not just the number)
  // TaskResult.commitments (at most limits::kResultCommitmentsMax, 32 bytes each), and whether
  // their CommitmentRoot is the receipt's commitment (none for none); set by the pool.
  std::vector<Hash256> commitments = {};
  bool commitments_match = false;
};

// Results submitted and not yet taken. Only the holder of a task's current attempt may submit
// (reactor_agents.cc), so honest load stays near the number of assigned tasks; past this the reactor
// answers "retry later" and the agent resends with its result retry.
inline constexpr size_t kResultsVerifyingMax = 4096;

class ReceiptPool {
 public:
  // threads: at least 1 (the caller picks hardware threads - 1).
  explicit ReceiptPool(unsigned threads);
  ~ReceiptPool();  // finishes nothing further: pending work is dropped, threads joined
  ReceiptPool(const ReceiptPool&) = delete;
  ReceiptPool& operator=(const ReceiptPool&) = delete;

  void Submit(ResultToVerify r);
  // Checked results since the last call, in completion order.
  std::vector<ResultToVerify> TakeDone();
  // Submitted and not yet taken (queued, being checked or done).
  size_t Outstanding() const;

 private:
  void Work();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ResultToVerify> todo_;
  std::vector<ResultToVerify> done_;
  size_t outstanding_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// Hardware threads - 1 (the reactor keeps one), at least 1.
inline unsigned DefaultVerifierThreads() {
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 1 ? hw - 1 : 1;
}

// The check itself (also used directly where no pool is wanted).
bool ReceiptMatches(const ResultToVerify& r);

}  // namespace plume::scheduler
