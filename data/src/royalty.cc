// Royalty arithmetic and settle claims (see royalty.h).
#include "plume/data/royalty.h"

#include <limits>
#include <set>

#include "plume/data/limits.h"
#include "plume/data/terms.h"
#include "plume/protocol/codec.h"

namespace plume::data {

std::optional<uint64_t> TaskTokens(uint64_t steps, uint64_t batch, uint64_t seq_len,
                                   uint64_t share_num, uint64_t share_den) {
  if (share_den == 0 || share_num > share_den) return std::nullopt;
  uint64_t read = 0;
  if (__builtin_mul_overflow(steps, batch, &read) || __builtin_mul_overflow(read, seq_len, &read)) {
    return std::nullopt;
  }
  // read x share_num fits 128 bits; the quotient is <= read, so it fits 64.
  const unsigned __int128 part = static_cast<unsigned __int128>(read) * share_num / share_den;
  return static_cast<uint64_t>(part);
}

std::optional<int64_t> RoyaltyFor(uint64_t tokens, uint64_t rate_micro_plume_per_mtoken) {
  const unsigned __int128 royalty = static_cast<unsigned __int128>(tokens) *
                                    rate_micro_plume_per_mtoken / kTokensPerRoyaltyUnit;
  if (royalty > static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max())) {
    return std::nullopt;
  }
  return static_cast<int64_t>(royalty);
}

std::vector<uint8_t> EncodeClaims(const std::vector<RoyaltyClaim>& claims) {
  std::vector<uint8_t> out;
  protocol::codec::PutU32(out, static_cast<uint32_t>(claims.size()));
  for (const RoyaltyClaim& c : claims) {
    protocol::codec::PutString(out, c.dataset);
    protocol::codec::PutU64(out, c.tokens);
  }
  return out;
}

Result<std::vector<RoyaltyClaim>> DecodeClaims(std::span<const uint8_t> bytes) {
  protocol::codec::Reader in(bytes);
  const uint32_t n = in.U32();
  if (n == 0 || n > kJobDatasetsMax) return Fail("a settle claims royalties for 1..8 datasets");
  std::vector<RoyaltyClaim> claims;
  std::set<std::string> seen;
  for (uint32_t i = 0; i < n && in.ok(); ++i) {
    RoyaltyClaim c;
    c.dataset = in.String(kDatasetIdChars);
    c.tokens = in.U64();
    if (!IsDatasetId(c.dataset) || c.tokens == 0 || !seen.insert(c.dataset).second) in.Fail();
    claims.push_back(std::move(c));
  }
  if (!in.done()) return Fail("royalty claims are malformed");
  return claims;
}

}  // namespace plume::data
