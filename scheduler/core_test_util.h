// Test helpers for the scheduler core: specs, agents and a harness that feeds events at a fake
// clock, acknowledges ledger requests like a well-behaved ledger, and keeps every action.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "plume/scheduler/core.h"
#include "plume/scheduler/work.h"

namespace plume::scheduler::testing {

inline BlobHash Blob(const std::string& tag) {
  // A valid-looking 64-hex-digit hash derived from a tag, for readable tests.
  std::string h;
  uint64_t x = std::hash<std::string>{}(tag);
  while (h.size() < 64) {
    static const char* kHex = "0123456789abcdef";
    h.push_back(kHex[x & 15]);
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  return h;
}

inline NodeInfo Agent(const std::string& id, MicroPlume price = 100, uint64_t flops = 1'000'000,
                      Backend backend = Backend::kCpu, uint64_t memory_bytes = 1ULL << 34) {
  NodeInfo n;
  n.id = id;
  n.name = "host-" + id;
  n.backend = backend;
  n.host_memory_bytes = memory_bytes;
  if (backend == Backend::kCuda) n.gpus = {GpuInfo{"H100", memory_bytes, 1}};
  n.selftest_passed = true;
  n.flops_per_s = flops;
  n.price_micro_plume_per_pflop = price;
  // A kernel class (kernels/kernel_class.h) so that the store's round trip covers it.
  n.kernel_class = backend == Backend::kCuda ? "cuda/NVIDIA-H100.sm_90.x1/00112233aabbccdd"
                                             : "cpu/Haswell.x86-64-v3.openblas-0.3.21.glibc-2.36/00112233aabbccdd";
  return n;
}

inline JobSpec TrainSpec(uint32_t workers, uint32_t rounds, int64_t round_timeout_ms = 60'000) {
  JobSpec s;
  s.kind = JobKind::kTrain;
  s.name = "tiny";
  s.model = ModelConfig{2, 2, 32, 32, 256};
  s.train.workers = workers;
  s.train.rounds = rounds;
  s.train.local_steps = 10;
  s.train.batch = 4;
  s.train.seq_len = 32;
  s.train.round_timeout_ms = round_timeout_ms;
  s.data_blobs = {Blob("dataset")};
  s.max_price_micro_plume_per_pflop = 1000;
  s.fee_bps = kFeeBpsDefault;  // what the core stamps on the job
  s.budget_micro_plume = MaxJobCostMicroPlume(s);
  return s;
}

inline JobSpec InferSpec(uint32_t prompts, uint32_t shards) {
  JobSpec s;
  s.kind = JobKind::kInfer;
  s.name = "gen";
  s.model = ModelConfig{2, 2, 32, 32, 256};
  s.infer = InferParams{prompts, shards, 16, 8, Blob("checkpoint"), {}};
  s.data_blobs = {Blob("prompts")};
  s.max_price_micro_plume_per_pflop = 1000;
  s.fee_bps = kFeeBpsDefault;  // what the core stamps on the job
  s.budget_micro_plume = MaxJobCostMicroPlume(s);
  return s;
}

template <class A>
std::vector<A> Only(const std::vector<Action>& actions) {
  std::vector<A> out;
  for (const Action& a : actions) {
    if (const A* p = std::get_if<A>(&a)) out.push_back(*p);
  }
  return out;
}

// A config without replay audits, for tests of everything else (core_audit_test.cc has them).
inline Config NoAudits(Config c = {}) {
  c.audits = false;
  return c;
}

class Harness {
 public:
  explicit Harness(Config config = NoAudits()) : core(config) {}

  // Feeds one event at the current fake time; ledger requests are acknowledged at once.
  std::vector<Action> Do(const Event& e) {
    std::vector<Action> acts = core.Handle(now_ms, e);
    Absorb(acts);
    return acts;
  }
  std::vector<Action> Advance(int64_t ms) {
    now_ms += ms;
    return Do(Tick{});
  }
  void Absorb(std::vector<Action>& acts) {
    for (size_t i = 0; i < acts.size(); ++i) {
      all.push_back(acts[i]);
      if (const auto* l = std::get_if<LedgerRequest>(&acts[i]); l && auto_ledger) {
        ledger.push_back(l->op);
        auto more = core.Handle(now_ms, LedgerApplied{l->op.id});
        acts.insert(acts.end(), more.begin(), more.end());
      }
    }
  }
  const Task& TaskAt(const TaskId& id) const { return core.state().tasks.at(id); }
  const Job& JobAt(const JobId& id) const { return core.state().jobs.at(id); }

  Core core;
  int64_t now_ms = 1'000'000;
  bool auto_ledger = true;
  std::vector<Action> all;
  std::vector<LedgerOp> ledger;
};

}  // namespace plume::scheduler::testing
