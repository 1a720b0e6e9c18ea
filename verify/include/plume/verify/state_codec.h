// The bytes of a training state (parameters and both AdamW moments), as an agent keeps it behind
// each commitment link (node-agent dispute_states.h) and hands it to a dispute's referee as an
// export run's result blob (docs/verification.md, "Commitments and disputes"):
//   "PLST", u64 n (little-endian), then n floats each of params, m and v (IEEE 754, LE).
// One format in one place: the agent's files and the blobs on the wire are the same bytes, and
// the scheduler sizes an export result with EncodedStateBytes before anyone reads it. Pure.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "plume/kernels/error.h"
#include "plume/kernels/gpt.h"

namespace plume::verify {

// The size of an encoded state of n parameters (0 when that would overflow).
uint64_t EncodedStateBytes(uint64_t n_params);

// Precondition: params, m and v have one length (an error otherwise, never a partial encoding).
kernels::Result<std::vector<uint8_t>> EncodeState(const kernels::TrainState& state);

// Refuses anything but exactly one encoded state: wrong magic, a truncated or over-long body, a
// count that does not fit the bytes. `n_params_expected` > 0 also requires that many parameters.
kernels::Result<kernels::TrainState> DecodeState(std::span<const uint8_t> bytes,
                                                 uint64_t n_params_expected = 0);

}  // namespace plume::verify
