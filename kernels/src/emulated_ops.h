// A CPU "device" that behaves like a GPU backend in the two ways the self-test must tolerate or
// catch, so the self-test itself can be tested on machines without a GPU:
// - Rounding: matmul inputs (activations and weights, forward and backward) are rounded to TF32
//   (10 explicit mantissa bits) or BF16 (7) before the fp32-accumulating CPU matmul, which is
//   what tensor-core GEMMs do to their operands. Everything else runs on the CPU backend as is.
// - Faults: one op can be broken on purpose, the way a GPU kernel goes wrong (a sign, an index,
//   a dropped term, a transposed operand). A self-test that passes such a device is blind.
//
// Memory is host memory (the wrapped CPU backend's), so the self-test's upload/download path is
// the same as for a real device. Deterministic: the same inputs give the same bits.
#pragma once

#include <memory>
#include <string>

#include "plume/kernels/ops.h"

namespace plume::kernels {

enum class Rounding { kNone, kTf32, kBf16 };

enum class Fault {
  kNone,
  kGeluBackwardSign,       // gelu_backward subtracts its gradient instead of adding it
  kSoftmaxTargetOffByOne,  // softmax_cross_entropy reads the target at index + 1
  kMatmulDropsBias,        // matmul_forward ignores the bias
  kMatmulTransposedWeight, // matmul_forward reads the weight (OC,C) as if it were (C,OC)
  kLayerNormDropsBias,     // layernorm_forward ignores the bias
};

// The op a fault breaks, as the self-test names its checks ("matmul_forward").
std::string FaultOp(Fault fault);

// Rounds one float to the given format, round-to-nearest-even (NaN and Inf pass through).
float RoundTo(Rounding rounding, float x);

std::unique_ptr<Ops> MakeEmulatedOps(Rounding rounding, Fault fault = Fault::kNone,
                                     int threads = 1);

}  // namespace plume::kernels
