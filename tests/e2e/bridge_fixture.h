// A LedgerBridge over a fresh directory with its own scheduler, operator and team keys (no
// inbox poller: tests drain it themselves), and an agent-signed settle receipt. Shared by the
// bridge, ledger-wire, submit and stake tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

#include "plume/ledger/receipt.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/identity.h"
#include "plume/scheduler/ledger_bridge.h"

namespace plume::scheduler::testing {

class BridgeFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("plume-bridge-" + std::to_string(std::random_device{}()));
    auto b = LedgerBridge::Open(dir_, scheduler_, op_.public_key(), std::chrono::milliseconds(0));
    ASSERT_TRUE(b) << b.error().message;
    bridge_ = std::move(*b);
  }
  void TearDown() override {
    bridge_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  Identity scheduler_ = Identity::Generate();
  Identity op_ = Identity::Generate();
  Identity team_ = Identity::Generate();
  std::unique_ptr<LedgerBridge> bridge_;

  // The bridge's ledger id: what entries and receipts for it are signed for.
  ledger::LedgerId ledger_id() const { return bridge_->ledger().keys().ledger_id; }
};

// The agent signs its ledger receipt; the scheduler's SettleReceipt carries its own FLOPs. Task
// wire id 7 is job-s/r0/w0, 8 is job-s/r0/w1, ...
inline SettleReceipt AgentSigned(const ledger::LedgerId& ledger_id, const Identity& agent,
                                 uint64_t agent_flops, uint64_t scheduler_flops,
                                 uint64_t task_wire_id = 7) {
  ledger::TaskReceipt r;
  r.job_id = "job-s";
  r.task_id = std::to_string(task_wire_id);
  r.attempt = 1;
  r.input_hashes = {Blake2b256(std::string("in"))};
  r.output_hash = Blake2b256(std::string("out"));
  r.flops = agent_flops;
  r.device = "cpu";
  r.kernel_build = "test";
  r.start_unix_ms = 1000;
  r.end_unix_ms = 2000;
  r.agent = agent.public_key();
  const Signature sig = ledger::SignAsAgent(r, ledger_id, agent);
  auto bytes = [](auto const& b) { return std::string(b.begin(), b.end()); };
  SettleReceipt s;
  s.task = "job-s/r0/w" + std::to_string(task_wire_id - 7);
  s.job = "job-s";
  s.task_wire_id = task_wire_id;
  s.attempt = 1;
  s.agent = bytes(agent.public_key());
  s.input_hashes = {bytes(r.input_hashes[0])};
  s.output_hash = bytes(r.output_hash);
  s.flops = scheduler_flops;
  s.price_micro_plume_per_pflop = 2'000'000'000'000;
  s.fee_bps = 500;  // the job's
  s.device = r.device;
  s.kernel_build = r.kernel_build;
  s.start_unix_ms = r.start_unix_ms;
  s.end_unix_ms = r.end_unix_ms;
  s.agent_signature = bytes(sig);
  return s;
}

}  // namespace plume::scheduler::testing
