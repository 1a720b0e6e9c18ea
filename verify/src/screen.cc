// Reason names: stable, because they are metric labels and refusal codes in the scheduler's log.
#include "plume/verify/screen.h"

namespace plume::verify {

const char* Name(Reason r) {
  switch (r) {
    case Reason::kOk:
      return "ok";
    case Reason::kOversized:
      return "oversized";
    case Reason::kMalformed:
      return "malformed";
    case Reason::kWrongModel:
      return "wrong_model";
    case Reason::kWrongTensor:
      return "wrong_tensor";
    case Reason::kWrongShape:
      return "wrong_shape";
    case Reason::kWrongDtype:
      return "wrong_dtype";
    case Reason::kNotFinite:
      return "not_finite";
    case Reason::kZeroDelta:
      return "zero_delta";
    case Reason::kNormTooLarge:
      return "norm_too_large";
    case Reason::kWrongCount:
      return "wrong_count";
    case Reason::kOutOfOrder:
      return "out_of_order";
    case Reason::kWrongIndex:
      return "wrong_index";
    case Reason::kWrongPrompt:
      return "wrong_prompt";
    case Reason::kTooManyTokens:
      return "too_many_tokens";
  }
  return "unknown";
}

}  // namespace plume::verify
