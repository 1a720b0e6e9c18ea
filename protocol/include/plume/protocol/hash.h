// Content hashing: BLAKE2b-256 (libsodium's crypto_generichash) for blobs, ledger chaining and
// Merkle trees, plus hex helpers. Thread-safe; no state beyond the Hasher object.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <sodium.h>

#include "plume/protocol/error.h"

namespace plume {

using Hash256 = std::array<uint8_t, 32>;

Hash256 Blake2b256(std::span<const uint8_t> bytes);
Hash256 Blake2b256(std::string_view bytes);

// Incremental hashing for data that arrives in pieces (blob chunks, ledger records).
class Hasher {
 public:
  Hasher();
  void Update(std::span<const uint8_t> bytes);
  void Update(std::string_view bytes);
  Hash256 Final();  // call once

 private:
  crypto_generichash_state state_;
};

std::string ToHex(std::span<const uint8_t> bytes);
// Parses exactly out_size bytes of lowercase or uppercase hex.
Result<std::string> FromHex(std::string_view hex);
Result<Hash256> HashFromHex(std::string_view hex);

}  // namespace plume
