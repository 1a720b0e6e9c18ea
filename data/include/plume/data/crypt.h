// Encryption of datasets (libsodium). The owner's client encrypts a dataset with a fresh data
// key before upload, so the blob store only ever holds ciphertext; the key stays with the owner
// and reaches an agent only sealed to that agent's key (SealDataKey), after a grant check.
//
// Ciphertext format: the magic "PLUMEDE1", the 24-byte crypto_secretstream_xchacha20poly1305
// header, then the plaintext in chunks of kCryptChunkBytes, each pushed with its 17-byte tag; the
// last chunk (possibly empty) carries TAG_FINAL. Decryption refuses a missing final tag, bytes
// after it, and any chunk that fails authentication, so a truncated, reordered or altered blob
// never decrypts.
//
// Sealing: crypto_box_seal to the X25519 key converted from the agent's ed25519 key (the same
// conversion CurveZMQ uses), opened with the agent's converted secret key. Only that agent can
// open it; the sender stays anonymous, which is fine because the key service is authenticated
// by the CURVE channel the sealed key travels on.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"

namespace plume::data {

using DataKey = std::array<uint8_t, 32>;

DataKey NewDataKey();
std::vector<uint8_t> Encrypt(std::span<const uint8_t> plaintext, const DataKey& key);
Result<std::vector<uint8_t>> Decrypt(std::span<const uint8_t> ciphertext, const DataKey& key);
// Streams `in` to `out` (created 0600, fsynced, written to a temporary name and renamed), so a
// dataset larger than memory can be encrypted; out is never left half written.
Status EncryptFile(const std::filesystem::path& in, const std::filesystem::path& out,
                   const DataKey& key);
// The ciphertext size for a plaintext of `bytes` bytes.
uint64_t CiphertextBytes(uint64_t plaintext_bytes);

Result<std::vector<uint8_t>> SealDataKey(const DataKey& key, const PublicKey& agent);
Result<DataKey> OpenDataKey(std::span<const uint8_t> sealed, const Identity& agent);

// Key files for owners: "plume-data-key-v1\n" + 64 hex + "\n", mode 0600, never overwritten.
Status SaveDataKey(const std::filesystem::path& path, const DataKey& key);
Result<DataKey> LoadDataKey(const std::filesystem::path& path);

// Zeroes key material that is no longer needed (sodium_memzero: not optimised away).
void Wipe(std::span<uint8_t> bytes);

}  // namespace plume::data
