// Private pieces of the self-test, split by concern across selftest*.cc.
#pragma once

#include <vector>

#include "cuda_kernel_choice.h"
#include "plume/kernels/ops.h"
#include "plume/kernels/selftest.h"

namespace plume::kernels {

// Every op and the model checks of `device` against `reference`; backend and index unset.
// `kernels`: the CUDA kernel variants the device runs, whose rounding sets some tolerances (the
// BF16 attention's); the defaults for any other device.
DeviceReport CompareDevice(Ops& reference, Ops& device, uint64_t seed,
                           const CudaKernelChoice& kernels = {});
// Every op of `device` against `reference` (the CPU backend) on seeded random inputs at a few
// sizes, including sizes that are not multiples of typical tile widths.
std::vector<OpCheck> CompareOps(Ops& reference, Ops& device, uint64_t seed,
                                const CudaKernelChoice& kernels);
// A small model on both backends from identical parameters: "model_gradients" compares the
// gradients of one forward/backward before any optimiser step (one AdamW step from zero moments
// moves every weight by +-lr whatever the gradient, so it would hide a wrong magnitude and
// amplify a harmless sign flip); "loss_curve" compares the losses of several AdamW steps.
std::vector<OpCheck> CompareModel(Ops& reference, Ops& device, uint64_t seed);
// The self-test's error measure: max over elements of |got - want| / (|want| + rms(want));
// 1e30 when sizes differ or anything in `got` is not finite.
double ElementError(const std::vector<float>& want, const std::vector<float>& got);
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
