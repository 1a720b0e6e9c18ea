// The reactor carries stake from the ledger side to the core (reactor_stake.cc), over real CURVE
// sockets on loopback with the ledger side stubbed: a node's stake is asked for when it
// registers, every change the ledger side reports reaches the core (and the node listing)
// within a turn or two, a change for an agent that is not a node is not invented into one, and
// the ledger side's tick work runs on the reactor's tick.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <mutex>
#include <thread>

#include "plume/protocol/transport.h"
#include "plume/scheduler/reactor.h"
#include "reactor_test_util.h"

namespace plume::scheduler {
namespace {

using namespace std::chrono_literals;

class ReactorStakeTest : public ReactorFixture {
 protected:
  void SetUp() override {
    MakeDir("plume-rstake-");
    ReactorOptions o;
    o.state_dir = dir_;
    o.sync = Sync::kNormal;
    o.core.lease_ms = 60'000;
    o.tick = 20ms;
    o.stake_of = [this](const NodeId& node) {
      std::lock_guard lock(mu_);
      ++asked_[node];
      return stakes_[node];
    };
    o.stake_changes = [this] {
      std::lock_guard lock(mu_);
      std::vector<NodeId> out;
      out.swap(changed_);
      return out;
    };
    o.ledger_tick = [this] { ++ticks_; };
    StartReactor(o);
    if (HasFatalFailure()) return;
  }
  void SetStake(const NodeId& node, MicroPlume staked, MicroPlume unbonding) {
    std::lock_guard lock(mu_);
    stakes_[node] = StakeView{staked, unbonding};
    changed_.push_back(node);
  }
  // The node listing's stake columns for `node`; {-1, -1} when it is not listed.
  std::pair<int64_t, int64_t> Listed(TransportClient& c, const NodeId& node) {
    auto list = c.NewRequest();
    list.body().initListNodes();
    auto reply = c.Call(list, 10s);
    EXPECT_TRUE(reply);
    if (!reply) return {-1, -1};
    for (auto n : reply->body().getListNodesReply().getNodes()) {
      if (std::string(n.getNodeId().cStr()) == node) {
        return {n.getStakeMicroPlume(), n.getUnbondingMicroPlume()};
      }
    }
    return {-1, -1};
  }
  bool WaitListed(TransportClient& c, const NodeId& node, std::pair<int64_t, int64_t> want) {
    for (int i = 0; i < 250; ++i) {  // bounded: 5 s of 20 ms turns
      if (Listed(c, node) == want) return true;
      std::this_thread::sleep_for(20ms);  // polling a running loop, not synchronising
    }
    return false;
  }

  std::mutex mu_;
  std::map<NodeId, StakeView> stakes_;
  std::map<NodeId, int> asked_;
  std::vector<NodeId> changed_;
  std::atomic<int> ticks_{0};
};

TEST_F(ReactorStakeTest, TheLedgersStakeReachesTheCoreAtRegisterAndOnEveryChange) {
  Identity agent = Identity::Generate();
  const NodeId id = agent.Id();
  SetStake(id, 5'000'000, 0);  // staked before the agent ever registered: not a node yet
  auto c = TransportClient::Connect(reactor_->endpoint(), scheduler_.public_key(), agent);
  ASSERT_TRUE(c);
  bool polled = false;  // the reactor took the change (bounded wait)
  for (int i = 0; i < 250 && !polled; ++i) {
    std::this_thread::sleep_for(20ms);
    std::lock_guard lock(mu_);
    polled = changed_.empty();
  }
  ASSERT_TRUE(polled);
  EXPECT_EQ(Listed(**c, id), std::make_pair(int64_t{-1}, int64_t{-1}))
      << "a stake change made a node of an agent that never registered";

  auto reg = (*c)->NewRequest();
  auto r = reg.body().initRegister();
  r.setName("staked");
  r.setPriceMicroPlumePerPflop(10);
  auto gpu = r.initGpus(1)[0];
  gpu.setName("cpu");
  gpu.setBackend(wire::Backend::CPU);
  gpu.setSelftestPassed(true);
  auto ack = (*c)->Call(reg, 10s);
  ASSERT_TRUE(ack);
  ASSERT_EQ(ack->kind(), MessageKind::REGISTER_ACK);
  // Asked at register: listed with the ledger's stake at once.
  EXPECT_EQ(Listed(**c, id), std::make_pair(int64_t{5'000'000}, int64_t{0}));
  {
    std::lock_guard lock(mu_);
    EXPECT_GE(asked_[id], 1);
  }
  // An unstake, then a slash of the unbonding stake: each reaches the core.
  SetStake(id, 1'000'000, 4'000'000);
  EXPECT_TRUE(WaitListed(**c, id, {1'000'000, 4'000'000}));
  SetStake(id, 0, 2'500'000);
  EXPECT_TRUE(WaitListed(**c, id, {0, 2'500'000}));
  // The ledger side's tick work runs with the reactor's tick.
  const int seen = ticks_.load();
  for (int i = 0; i < 250 && ticks_.load() < seen + 3; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_GE(ticks_.load(), seen + 3);
}

}  // namespace
}  // namespace plume::scheduler
