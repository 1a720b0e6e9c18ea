// Snapshots (private to the ledger): the replayed state at a committed head, so Open reads only
// the log after it. File <dir>/snapshot, replaced atomically (write temp, fsync, rename, fsync
// directory):
//   "PLUMESNP" | version u32 (3) | body bytes u64 | BLAKE2b-256(body) | signature (64) | body
// The signature is the ledger key's over a domain tag, the ledger id and the digest: the state in
// it (balances, holds) is taken without replaying the entries, so a checksum alone would let
// anyone who can write the directory change balances the log never produced.
//   body: head (tree_size, timestamp, root, signature) | head record offset u64 |
//         committed end u64 | offsets (tree_size x u64) | leaf hashes (tree_size x 32) | State
//         (state_codec.cc: balances, holds, settled tasks, ids, tranches, slashed tasks)
// A snapshot is trusted only after it matches the log: its head record must be in the log at
// the stated offset, byte for byte, and the last entry's record must hash to the last leaf.
// Anything else (missing, damaged, from another log, ahead of a cut log) means full replay.
#pragma once

#include <filesystem>
#include <vector>

#include "plume/ledger/head.h"
#include "plume/ledger/state.h"
#include "plume/protocol/error.h"
#include "plume/protocol/identity.h"

namespace plume::ledger {

struct Snapshot {
  SignedTreeHead head;
  uint64_t head_offset = 0;
  uint64_t committed_end = 0;
  std::vector<uint64_t> offsets;
  std::vector<Hash256> leaves;
  State state;
};

// Signs with `ledger_key` for ledger `ledger`.
Status WriteSnapshot(const std::filesystem::path& dir, const Snapshot& snapshot,
                     const Identity& ledger_key, const LedgerId& ledger);
// Refuses a snapshot not signed by keys.ledger for keys.ledger_id.
Result<Snapshot> ReadSnapshot(const std::filesystem::path& dir, const Keys& keys);

}  // namespace plume::ledger
