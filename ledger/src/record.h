// Payloads of ledger.log records (private). Every payload starts with its kind:
//   kEntry: kind u8 | index u64 | prev_hash (32) | canonical entry (entry.h)
//   kHead:  kind u8 | tree_size u64 | timestamp_unix_ms u64 | root (32) | signature (64)
// The Merkle leaf of an entry is MerkleLeafHash(entry record payload), and the next entry's
// prev_hash is that same leaf hash, so the hash chain and the tree share one hash per entry.
// A batch ends with a head record; entries after the last head were never acknowledged.
#pragma once

#include <cstdint>
#include <span>
#include <variant>
#include <vector>

#include "plume/ledger/entry.h"
#include "plume/ledger/head.h"
#include "plume/protocol/error.h"

namespace plume::ledger {

enum class RecordKind : uint8_t { kEntry = 1, kHead = 2 };

struct EntryRecord {
  uint64_t index = 0;
  Hash256 prev_hash{};
  Entry entry;
};

void EncodeEntryRecord(uint64_t index, const Hash256& prev_hash, const Entry& entry,
                       std::vector<uint8_t>& out);
std::vector<uint8_t> EncodeHeadRecord(const SignedTreeHead& head);
Result<std::variant<EntryRecord, SignedTreeHead>> DecodeRecord(std::span<const uint8_t> payload);
bool IsHeadRecord(std::span<const uint8_t> payload);

}  // namespace plume::ledger
