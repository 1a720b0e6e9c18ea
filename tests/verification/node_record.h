// Shared by the verification e2e tests: one agent's entry in `plume nodes --json`.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "network.h"

namespace plume::itest {

// The node record of agent `name` (its counts, audit rate, ...); an empty object, and a test
// failure, when the listing fails or does not hold it.
inline nlohmann::json NodeOf(const Network& net, const std::string& name) {
  std::string why;
  auto nodes = net.CliJson({"nodes"}, &why);
  EXPECT_TRUE(nodes) << why;
  for (const nlohmann::json& n : nodes.value_or(nlohmann::json::array())) {
    if (n["node_id"] == net.agent_id(name)) return n;
  }
  ADD_FAILURE() << "no node " << name;
  return nlohmann::json::object();
}

// Polls (bounded, 240 s) until agent `name` has been proven faulty at least once; its record
// then, or the last one read.
inline nlohmann::json AwaitProvenFaulty(const Network& net, const std::string& name) {
  nlohmann::json node;
  for (int i = 0; i < 240; ++i) {
    node = NodeOf(net, name);
    if (node.value("proven_faulty", 0) >= 1) break;
    std::this_thread::sleep_for(std::chrono::seconds(1));  // polling a process, not syncing
  }
  return node;
}

}  // namespace plume::itest
