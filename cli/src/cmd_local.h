// Helpers of the local commands that other command groups may reuse.
#pragma once

#include <memory>
#include <string>

#include "plume/kernels/ops.h"

namespace plume::cli {

// "cpu", "cuda" or "auto" (CUDA device 0 when one is usable, else the CPU). threads applies to
// the CPU backend (0 = OpenMP default).
plume::kernels::Result<std::unique_ptr<plume::kernels::Ops>> MakeBackend(const std::string& backend,
                                                                        int threads);

}  // namespace plume::cli
