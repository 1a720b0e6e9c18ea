// Ledger values on the wire (see ledger_wire.h).
#include "plume/scheduler/ledger_wire.h"

#include <algorithm>
#include <span>

namespace plume::scheduler {
namespace {

template <size_t N>
Result<std::array<uint8_t, N>> Fixed(capnp::Data::Reader data, const char* what) {
  std::array<uint8_t, N> out{};
  if (data.size() != N) {
    return Fail(std::string(what) + " must be " + std::to_string(N) + " bytes, got " +
                std::to_string(data.size()));
  }
  std::copy(data.begin(), data.end(), out.begin());
  return out;
}

}  // namespace

void WriteHead(const ledger::SignedTreeHead& head, const ledger::LedgerId& ledger,
               wire::LedgerHead::Builder out) {
  out.setTreeSize(head.tree_size);
  out.setLedgerId(AsData(ledger));
  out.setTimestampUnixMs(head.timestamp_unix_ms);
  out.setRoot(AsData(head.root));
  out.setSignature(AsData(head.signature));
}

Result<ledger::SignedTreeHead> ReadHead(wire::LedgerHead::Reader in) {
  ledger::SignedTreeHead head;
  head.tree_size = in.getTreeSize();
  head.timestamp_unix_ms = in.getTimestampUnixMs();
  auto root = Fixed<32>(in.getRoot(), "the tree head's root");
  if (!root) return tl::unexpected(root.error());
  auto sig = Fixed<64>(in.getSignature(), "the tree head's signature");
  if (!sig) return tl::unexpected(sig.error());
  head.root = *root;
  head.signature = *sig;
  return head;
}

void WriteEntry(const ledger::LoggedEntry& logged, wire::LedgerEntry::Builder out) {
  out.setIndex(logged.index);
  out.setPrevHash(AsData(logged.prev_hash));
  const std::vector<uint8_t> bytes = ledger::Encode(logged.entry);
  out.setEntry(AsData(bytes));
}

Result<ledger::LoggedEntry> ReadEntry(wire::LedgerEntry::Reader in) {
  ledger::LoggedEntry logged;
  logged.index = in.getIndex();
  auto prev = Fixed<32>(in.getPrevHash(), "an entry's previous hash");
  if (!prev) return tl::unexpected(prev.error());
  logged.prev_hash = *prev;
  auto bytes = in.getEntry();
  auto entry = ledger::Decode(std::span<const uint8_t>(bytes.begin(), bytes.size()));
  if (!entry) return Fail("entry #" + std::to_string(logged.index) + ": " + entry.error().message);
  logged.entry = std::move(*entry);
  logged.leaf_hash = ledger::EntryLeafHash(logged.index, logged.prev_hash, logged.entry);
  return logged;
}

void WriteHashes(const std::vector<Hash256>& hashes, capnp::List<capnp::Data>::Builder out) {
  const size_t n = std::min<size_t>(hashes.size(), out.size());
  for (size_t i = 0; i < n; ++i) out.set(static_cast<unsigned>(i), AsData(hashes[i]));
}

Result<std::vector<Hash256>> ReadHashes(capnp::List<capnp::Data>::Reader in) {
  std::vector<Hash256> out;
  out.reserve(in.size());
  for (auto d : in) {
    auto h = Fixed<32>(d, "a proof hash");
    if (!h) return tl::unexpected(h.error());
    out.push_back(*h);
  }
  return out;
}

void WriteHold(const ledger::HoldInfo& hold, wire::LedgerHold::Builder out) {
  out.setTeam(hold.team);
  out.setHeldMicroPlume(hold.held.value());
  out.setPaidMicroPlume(hold.paid.value());
  out.setFeesMicroPlume(hold.fees.value());
  out.setReleasedMicroPlume(hold.released.value());
  out.setClosed(hold.closed);
}

ledger::HoldInfo ReadHold(wire::LedgerHold::Reader in) {
  ledger::HoldInfo hold;
  hold.team = in.getTeam();
  hold.held = ledger::MicroPlume(in.getHeldMicroPlume());
  hold.paid = ledger::MicroPlume(in.getPaidMicroPlume());
  hold.fees = ledger::MicroPlume(in.getFeesMicroPlume());
  hold.released = ledger::MicroPlume(in.getReleasedMicroPlume());
  hold.closed = in.getClosed();
  return hold;
}

}  // namespace plume::scheduler
