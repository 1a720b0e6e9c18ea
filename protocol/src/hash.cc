// BLAKE2b-256 through libsodium, and hex conversion.
#include "plume/protocol/hash.h"

namespace plume {
namespace {
struct SodiumInit {
  SodiumInit() {
    // sodium_init is idempotent and thread-safe; a failure means no usable RNG, which makes
    // every key and signature meaningless, so it is a programmer/environment error.
    if (sodium_init() < 0) __builtin_trap();
  }
};
const SodiumInit kSodiumInit;
}  // namespace

Hash256 Blake2b256(std::span<const uint8_t> bytes) {
  Hash256 out;
  crypto_generichash(out.data(), out.size(), bytes.data(), bytes.size(), nullptr, 0);
  return out;
}

Hash256 Blake2b256(std::string_view bytes) {
  return Blake2b256(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

Hasher::Hasher() { crypto_generichash_init(&state_, nullptr, 0, 32); }

void Hasher::Update(std::span<const uint8_t> bytes) {
  crypto_generichash_update(&state_, bytes.data(), bytes.size());
}

void Hasher::Update(std::string_view bytes) {
  Update(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

Hash256 Hasher::Final() {
  Hash256 out;
  crypto_generichash_final(&state_, out.data(), out.size());
  return out;
}

std::string ToHex(std::span<const uint8_t> bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), bytes.data(), bytes.size());
  out.pop_back();
  return out;
}

Result<std::string> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) return Fail("hex string has odd length " + std::to_string(hex.size()));
  std::string out(hex.size() / 2, '\0');
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), hex.data(),
                     hex.size(), nullptr, &len, &end) != 0 ||
      len != out.size()) {
    return Fail("not a hex string: '" + std::string(hex.substr(0, 80)) + "'");
  }
  return out;
}

Result<Hash256> HashFromHex(std::string_view hex) {
  if (hex.size() != 64) return Fail("a hash is 64 hex characters, got " + std::to_string(hex.size()));
  auto bytes = FromHex(hex);
  if (!bytes) return tl::unexpected(bytes.error());
  Hash256 out;
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

}  // namespace plume
