// Every bound of the data-owner component in one place. Terms, grants and claims beyond these
// are refused when decoded, so a peer's bytes never make anyone allocate without limit.
#pragma once

#include <cstddef>
#include <cstdint>

namespace plume::data {

inline constexpr size_t kDatasetIdChars = 32;      // hex of 16 bytes (terms.h DatasetId)
inline constexpr size_t kDatasetNameBytesMax = 128;
inline constexpr size_t kKeyServiceBytesMax = 256;  // "tcp://host:port"
// Teams a dataset names explicitly. 256 x 32 bytes keeps the terms well inside one ledger body
// (16 KiB); an owner who wants more publishes for any team.
inline constexpr size_t kTermsTeamsMax = 256;
inline constexpr size_t kTermsBytesMax = 12 * 1024;
// Datasets one job may name, and so royalty claims one settle may carry.
inline constexpr size_t kJobDatasetsMax = 8;
inline constexpr size_t kGrantIdBytesMax = 64;  // job and task ids (as the ledger's)
inline constexpr size_t kGrantBytesMax = 512;
// A grant lives at most this long: long enough for a task to start and fetch its key, short
// enough that a leaked grant is soon worthless.
inline constexpr uint64_t kGrantLifetimeMsMax = 6ULL * 3600 * 1000;
// How far a key service's clock may trail the scheduler's when it checks a grant's issue time.
inline constexpr uint64_t kClockSkewMsMax = 60'000;
// Encrypted datasets are written in chunks of this many plaintext bytes (crypt.h).
inline constexpr size_t kCryptChunkBytes = 64 * 1024;
// Royalty rates are micro-PLUME per this many tokens.
inline constexpr uint64_t kTokensPerRoyaltyUnit = 1'000'000;
// Datasets one key may publish on a ledger, revoked ones included (publish_limit.h): every
// publish is a ledger entry kept forever, and keys cost nothing. The operator's flag sets it.
inline constexpr uint64_t kDatasetsPerKeyMaxDefault = 100;

}  // namespace plume::data
