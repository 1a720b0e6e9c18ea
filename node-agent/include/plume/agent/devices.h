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
// The kernel class (plume/kernels/kernel_class.h) of the devices the agent's tasks run on,
// formatted, for Register.kernelBuild and the ledger receipt's kernel_build. Several passed GPUs
// make one class ("...x8.nccl"), since a training task uses them together.
std::string KernelBuild(const std::vector<DeviceOffer>& offered);

}  // namespace plume::agent
