// Ledger values on the wire (protocol/schema/plume.capnp LedgerHead, LedgerEntry, LedgerHold):
// both ends of the ledger messages use these, the scheduler to answer (ledger_bridge.h) and the
// CLI to read and check what it got. Entries travel as the ledger's canonical bytes; a reader
// decodes them and recomputes the leaf hash itself, so nothing a peer claims about an entry is
// trusted until a proof against a signed head says so (ledger.h CheckInclusion).
// Pure functions; no state.
#pragma once

#include <vector>

#include "plume/ledger/ledger.h"
#include "plume/ledger/state.h"
#include "plume/protocol/error.h"
#include "plume/protocol/hash.h"
#include "plume/protocol/message.h"

namespace plume::scheduler {

void WriteHead(const ledger::SignedTreeHead& head, const ledger::LedgerId& ledger,
               wire::LedgerHead::Builder out);
// Fails when the root or signature has the wrong size. Does not check the signature
// (ledger::VerifyHead does, with the key the caller trusts).
Result<ledger::SignedTreeHead> ReadHead(wire::LedgerHead::Reader in);

void WriteEntry(const ledger::LoggedEntry& logged, wire::LedgerEntry::Builder out);
// Decodes the canonical entry (refusing anything ledger::Decode refuses) and sets leaf_hash to
// the hash of its record as this end computes it.
Result<ledger::LoggedEntry> ReadEntry(wire::LedgerEntry::Reader in);

// Proof paths: a list of 32-byte hashes.
void WriteHashes(const std::vector<Hash256>& hashes, capnp::List<capnp::Data>::Builder out);
Result<std::vector<Hash256>> ReadHashes(capnp::List<capnp::Data>::Reader in);

void WriteHold(const ledger::HoldInfo& hold, wire::LedgerHold::Builder out);
ledger::HoldInfo ReadHold(wire::LedgerHold::Reader in);

}  // namespace plume::scheduler
