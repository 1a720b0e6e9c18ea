// Private helpers shared by the runner's files.
#pragma once

#include <span>

#include "plume/kernels/gpt.h"
#include "plume/kernels/runner.h"

namespace plume::kernels {

// Evaluate() on an existing model (its parameters as they are now).
Result<float> EvaluateModel(Gpt& model, std::span<const int32_t> tokens, const EvalConfig& eval);
// Every token in [0, vocab); `what` names the data in the error.
Status CheckTokenRange(std::span<const int32_t> tokens, int vocab, const char* what);

}  // namespace plume::kernels
