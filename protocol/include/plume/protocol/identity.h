// Identities: one ed25519 key pair per principal (scheduler, agent, client, ledger operator).
// The id is the hex public key. The X25519 keys for CurveZMQ are derived from the ed25519 pair,
// so one 0600 key file serves both signing and transport.
//
// Key file format (text): "plume-ed25519-v1\n" then the 64-byte libsodium secret key in hex and
// "\n". The public key is the secret key's second half, so it is not stored twice.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

#include "plume/protocol/error.h"

namespace plume {

using PublicKey = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;
using CurveKey = std::array<uint8_t, 32>;

class Identity {
 public:
  static Identity Generate();
  // Reads a key file; refuses files readable by group or others (like ssh does).
  static Result<Identity> Load(const std::filesystem::path& path);
  // Loads path, or creates it (mode 0600, parent directories 0700) when it does not exist.
  static Result<Identity> LoadOrCreate(const std::filesystem::path& path);
  // Writes a new key file with mode 0600; refuses to overwrite an existing file.
  Status Save(const std::filesystem::path& path) const;

  const PublicKey& public_key() const { return pk_; }
  std::string Id() const;  // hex of the public key
  Signature Sign(std::span<const uint8_t> message) const;
  Signature Sign(std::string_view message) const;

  // CurveZMQ keys (raw 32 bytes; use Z85 when handing them to zmq_setsockopt as text).
  CurveKey CurvePublic() const;
  CurveKey CurveSecret() const;

 private:
  PublicKey pk_{};
  std::array<uint8_t, 64> sk_{};
};

bool VerifySignature(const PublicKey& pk, std::span<const uint8_t> message, const Signature& sig);
bool VerifySignature(const PublicKey& pk, std::string_view message, const Signature& sig);
Result<PublicKey> PublicKeyFromHex(std::string_view hex);
// The CurveZMQ public key of an ed25519 public key (to connect to a scheduler known by its id).
Result<CurveKey> CurvePublicFromEd25519(const PublicKey& pk);

}  // namespace plume
