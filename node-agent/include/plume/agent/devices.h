// What this machine can offer: every backend is checked by running the kernels on it before it
// is offered (a device that fails is logged and left out). The CPU backend is always checked;
// CUDA devices when the build has CUDA and a driver sees them.
#pragma once

#include <string>
#include <vector>

#include "plume/agent/agent.h"

namespace plume::agent {

struct DeviceCheck {
  DeviceOffer offer;    // selftest_passed says whether it may be offered
  std::string details;  // what was checked, or why it failed
};

// Runs the checks (a few seconds on a CPU). threads: CPU backend threads (0: default).
std::vector<DeviceCheck> CheckDevices(int threads);
// The offers among checks that passed.
std::vector<DeviceOffer> PassedDevices(const std::vector<DeviceCheck>& checks);
// "<git describe or version>+<cpu|cuda>" for Register and receipts.
std::string KernelBuild();

}  // namespace plume::agent
