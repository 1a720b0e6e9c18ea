// Royalties: what one training task owes each dataset owner, and the claims a settle entry
// carries so that the ledger (and anyone replaying it) recomputes every royalty leg.
//
// The arithmetic, all integer, every step checked (nullopt when a result would not fit):
//   tokens  = steps x batch x seq_len x share_num / share_den     (rounded down)
//   royalty = tokens x rate_micro_plume_per_mtoken / 1,000,000     (rounded down)
// A task's tokens are those its spec makes it read (every step reads batch x seq_len tokens);
// a dataset's share is its weight over the sum of the job's weights. Rounding down at each
// step means an owner is never paid for a token that was not read; what is lost is under one
// micro-PLUME per task and dataset. Pure; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "plume/protocol/error.h"

namespace plume::data {

std::optional<uint64_t> TaskTokens(uint64_t steps, uint64_t batch, uint64_t seq_len,
                                   uint64_t share_num, uint64_t share_den);
// Micro-PLUME; nullopt when it would not fit an int64.
std::optional<int64_t> RoyaltyFor(uint64_t tokens, uint64_t rate_micro_plume_per_mtoken);

// One dataset's part of a task: the settle entry's body lists these, one per royalty leg, in
// the legs' order.
struct RoyaltyClaim {
  std::string dataset;  // terms.h DatasetId
  uint64_t tokens = 0;  // > 0
  bool operator==(const RoyaltyClaim&) const = default;
};

// Canonical encoding of 1..kJobDatasetsMax claims with distinct datasets; Decode refuses
// anything else.
std::vector<uint8_t> EncodeClaims(const std::vector<RoyaltyClaim>& claims);
Result<std::vector<RoyaltyClaim>> DecodeClaims(std::span<const uint8_t> bytes);

}  // namespace plume::data
