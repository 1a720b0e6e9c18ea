// Private pieces of the self-test, split by concern across selftest*.cc.
#pragma once

#include <vector>

#include "plume/kernels/ops.h"
#include "plume/kernels/selftest.h"

namespace plume::kernels {

// Every op of `device` against `reference` (the CPU backend) on seeded random inputs at a few
// sizes, including sizes that are not multiples of typical tile widths.
std::vector<OpCheck> CompareOps(Ops& reference, Ops& device, uint64_t seed);
// One training step of a small model on both backends: loss and parameters after AdamW.
OpCheck CompareTrainingStep(Ops& reference, Ops& device, uint64_t seed);
// CPU-only checks: model gradients against central differences; bit-identical repeats.
std::vector<OpCheck> CheckModelOnItsOwn(Ops& ops, uint64_t seed);

struct SpeedNumbers {
  double matmul_flops = 0.0;
  double train_tokens_per_s = 0.0;
  double train_flops = 0.0;
};
// Measured on `ops`; `large` picks sizes for a GPU.
Result<SpeedNumbers> MeasureSpeed(Ops& ops, bool large);

}  // namespace plume::kernels
