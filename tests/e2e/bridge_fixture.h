// A LedgerBridge over a fresh directory with its own scheduler, operator and team keys (no
// inbox poller: tests drain it themselves). Shared by the bridge and the ledger-wire tests.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <string>

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

}  // namespace plume::scheduler::testing
